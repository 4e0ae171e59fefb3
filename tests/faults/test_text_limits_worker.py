"""A 5,000-page scan on a real text worker does not hold up another document's text.

The text worker runs the production pool (prefork, two processes, prefetch 1, acks_late): the
huge scan occupies one process until the document time limit kills its OCR, while a small
document queued after it is read by the other. The huge one then ends `failed`, `text_timeout`.
"""

from __future__ import annotations

import pytest

from apps.documents.models import Document, DocumentPage, TextStatus
from apps.documents.tasks import extract_text
from quill.celery import app as celery_app
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import stored_document
from tests.faults.conftest import broker_env, filesystem_env, quill_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOCUMENT_TIMEOUT_SECONDS = 45


def test_a_huge_scan_on_the_text_queue_does_not_block_another_documents_text(
    settings, tmp_path, private_redis, celery_worker_factory
):
    # given a text worker with two processes, a page cap that lets 5,000 pages through, and a time limit
    files_dir = tmp_path / "documents"
    from tests.services.storage import filesystem_settings

    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    env = quill_env(
        **filesystem_env(files_dir),
        **broker_env(private_redis.url),
        QUILL_OCR="tesseract",
        QUILL_TEXT_MAX_PAGES="10000",
        QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS=str(DOCUMENT_TIMEOUT_SECONDS),
    )
    celery_worker_factory(env=env, queues=[settings.QUILL_CELERY_TEXT_QUEUE], pool="prefork", concurrency=2)
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    huge = stored_document(
        user=clinician, patient=patient, data=text_samples.blank_pdf(5_000), filename="huge-scan.pdf"
    )
    small = stored_document(
        user=clinician, patient=patient, data=text_samples.text_pdf(["Warfarin 3 mg, INR 2.6"]), filename="inr.pdf"
    )
    # when the huge scan is queued and has started, and then the small letter is queued
    with celery_app.connection_for_write(private_redis.url) as connection:
        extract_text.apply_async(args=[str(huge.pk)], connection=connection)
        wait_for(
            lambda: Document.objects.filter(pk=huge.pk, text_attempts=1).exists(),
            timeout=60,
            what="the huge scan's extraction starting",
        )
        extract_text.apply_async(args=[str(small.pk)], connection=connection)
    # then the letter is read while the huge scan is still under OCR
    wait_for(
        lambda: Document.objects.filter(pk=small.pk, text_status=TextStatus.DONE).exists(),
        timeout=60,
        what="the small letter's text",
    )
    huge.refresh_from_db()
    assert huge.text_status == TextStatus.PENDING
    assert "Warfarin" in DocumentPage.objects.get(document=small, page_number=1).text
    # and the huge scan ends at its time limit, failed with the reason, nothing indexed
    huge = wait_for(
        lambda: Document.objects.filter(pk=huge.pk).exclude(text_status=TextStatus.PENDING).first(),
        timeout=DOCUMENT_TIMEOUT_SECONDS + 60,
        what="the huge scan's time limit",
    )
    assert huge.text_status == TextStatus.FAILED and huge.text_error_code == "text_timeout"
    assert huge.text_attempts == 1 and not DocumentPage.objects.filter(document=huge).exists()
