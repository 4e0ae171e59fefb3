"""A text worker killed with SIGKILL in the middle of OCR.

extract_text is acks_late (and reject_on_worker_lost), and the attempt is counted before OCR
starts while the text is recorded only from `pending`: the killed run leaves the document
pending with no pages, OCRmyPDF dies with the worker (it is never left running), and once the
broker's visibility timeout passes a new worker reads the document again and records its text
exactly once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document, DocumentPage, TextStatus
from apps.documents.tasks import extract_text
from apps.files import storage
from quill.celery import app as celery_app
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import stored_document
from tests.faults.conftest import broker_env, filesystem_env, quill_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT_SECONDS = 3


def _ocr_children(parent_pid: int) -> list[int]:
    """OCRmyPDF processes started by the worker process `parent_pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent_pid and b"ocrmypdf" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_killed_mid_ocr_leaves_the_document_pending_and_it_is_read_once(
    settings, tmp_path, private_redis, celery_worker_factory
):
    # given a text worker on a Redis of its own and a clean two-page scan
    files_dir = tmp_path / "documents"
    from tests.services.storage import filesystem_settings

    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    env = quill_env(
        **filesystem_env(files_dir),
        **broker_env(private_redis.url),
        QUILL_OCR="tesseract",
        QUILL_CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_SECONDS),
    )
    worker = celery_worker_factory(env=env, queues=[settings.QUILL_CELERY_TEXT_QUEUE])
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    data = text_samples.scanned_pdf(["Warfarin clinic letter", "INR 2.4 stable"])
    document = stored_document(user=clinician, patient=patient, data=data, filename="clinic.pdf")
    # when the task is queued and the worker is killed while OCRmyPDF runs
    with celery_app.connection_for_write(private_redis.url) as connection:
        extract_text.apply_async(args=[str(document.pk)], connection=connection)
    worker_pid = worker._process.pid
    ocr_pids = wait_for(lambda: _ocr_children(worker_pid), timeout=60, what="OCRmyPDF started by the worker")
    time.sleep(0.5)
    worker.kill()
    # then OCR died with the worker, nothing was recorded, and the attempt was counted
    wait_for(lambda: not any(_alive(pid) for pid in ocr_pids), timeout=10, what="OCRmyPDF ending with its worker")
    document.refresh_from_db()
    assert document.text_status == TextStatus.PENDING and document.text_attempts == 1
    assert not DocumentPage.objects.filter(document=document).exists()
    assert not storage.exists(storage.searchable_pdf_key(document.storage_key))
    # and a worker started after the visibility timeout gets the task again and reads it once
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 1)
    worker.start()
    document = wait_for(
        lambda: Document.objects.filter(pk=document.pk, text_status=TextStatus.DONE).first(),
        timeout=90,
        what="the redelivered extraction",
    )
    assert document.text_attempts == 2 and document.text_method == "ocr"
    assert list(DocumentPage.objects.filter(document=document).values_list("page_number", flat=True)) == [1, 2]
    assert "Warfarin" in DocumentPage.objects.get(document=document, page_number=1).text
    assert AuditEvent.objects.filter(action="document.text_extracted", object_id=str(document.pk)).count() == 1
    assert storage.exists(document.text_rendition_key)
    assert os.path.getsize(files_dir / document.text_rendition_key) > 0
