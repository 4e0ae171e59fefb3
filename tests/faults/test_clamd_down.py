"""clamd is stopped: uploads stay `pending` and are never served; a real worker keeps retrying
(Celery autoretry with exponential backoff) and scans them once clamd is back."""

from __future__ import annotations

import hashlib

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from tests import factories
from tests.documents import samples
from tests.faults.conftest import broker_env, filesystem_env, quill_env, wait_for
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_documents_wait_pending_while_clamd_is_down_and_are_scanned_when_it_returns(
    settings, tmp_path, clamd_server, redis_url, celery_worker_factory
):
    # given a real worker, and clamd stopped
    assert redis_url == django_settings.CELERY_BROKER_URL, "run with QUILL_REDIS_URL=<redis_url> (make test)"
    files_dir = tmp_path / "documents"
    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    env = quill_env(**filesystem_env(files_dir), **broker_env(redis_url), **clamd_server.settings_env())
    celery_worker_factory(env=env, queues=["quill"])
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    client = factories.token_client(clinician)
    clamd_server.stop()
    # when two documents are uploaded
    ids = []
    for name, data in (("letter.pdf", samples.pdf(1)), ("photo.png", samples.png())):
        created = client.post(
            "/api/documents/",
            {"file": SimpleUploadedFile(name, data), "patient_id": str(patient.pk), "category": "other"},
            format="multipart",
        )
        assert created.status_code == 201, created.content
        ids.append(created.json()["id"])
    # then the worker tries, fails and retries; meanwhile nothing is served
    wait_for(
        lambda: all(d.scan_attempts >= 2 for d in Document.objects.filter(pk__in=ids)),
        timeout=30,
        what="two scan attempts for each document while clamd is down",
    )
    for document in Document.objects.filter(pk__in=ids):
        assert document.scan_status == ScanStatus.PENDING
        for path in ("content", "download-url"):
            response = client.get(f"/api/documents/{document.pk}/{path}")
            assert response.status_code == 409
            assert response.json()["detail"]["error_code"] == "scan_pending"
    # when clamd comes back, the next retry scans them: clean, once each, and served
    clamd_server.start()
    wait_for(
        lambda: Document.objects.filter(pk__in=ids, scan_status=ScanStatus.CLEAN).count() == 2,
        timeout=60,
        what="both documents scanned after clamd returned",
    )
    for document_id in ids:
        assert AuditEvent.objects.filter(action="document.scanned", object_id=document_id).count() == 1
        response = client.get(f"/api/documents/{document_id}/content")
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == Document.objects.get(pk=document_id).sha256
