"""Virus scanning with real clamd: clean, quarantined, scanner down, sweep, and a real worker."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.selectors import quarantined_documents
from apps.documents.services.scanning import document_begin_scan, document_record_scan
from apps.documents.tasks import scan_document, sweep_pending_scans
from apps.files import storage
from apps.files.errors import ScannerUnavailable
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.services.clamd import EICAR, EICAR_SIGNATURE, QUILL_TEST_MALWARE, QUILL_TEST_MALWARE_SIGNATURE


def _pdf_with_marker() -> bytes:
    # A valid PDF that carries the test signature in a comment line before the trailer.
    data = samples.pdf()
    head, _, tail = data.rpartition(b"trailer")
    return head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail


def test_clean_document_becomes_available_with_a_thumbnail(
    filesystem_storage, scanner, eager_celery, clinician, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert scan_document(str(document.pk)) == "clean"
    document.refresh_from_db()
    assert document.scan_status == ScanStatus.CLEAN and document.scanned_at
    assert document.thumbnail_key.endswith("_thumb.webp")
    assert storage.exists(document.thumbnail_key)
    assert AuditEvent.objects.filter(action="document.scanned", object_id=str(document.pk)).count() == 1
    response = factories.token_client(clinician).get(f"/api/documents/{document.pk}/content")
    assert response.status_code == 200


def test_marker_in_a_valid_pdf_is_quarantined_and_never_served(
    any_storage, scanner, eager_celery, clinician, administrator, patient
):
    data = _pdf_with_marker()
    client = factories.token_client(clinician)
    created = client.post(
        "/api/documents/",
        {"file": SimpleUploadedFile("referral.pdf", data), "patient_id": str(patient.pk), "category": "referral"},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    assert scan_document(document_id) == "infected"
    document = Document.objects.get(pk=document_id)
    assert document.scan_status == ScanStatus.INFECTED
    assert document.scan_signature == QUILL_TEST_MALWARE_SIGNATURE
    assert not document.thumbnail_key
    for path in ("content", "download-url"):
        response = client.get(f"/api/documents/{document_id}/{path}")
        assert response.status_code == 409
        assert response.json()["detail"]["error_code"] == "quarantined"
    event = AuditEvent.objects.get(action="document.quarantined", object_id=document_id)
    assert event.outcome == "denied" and event.details["signature"] == QUILL_TEST_MALWARE_SIGNATURE
    assert list(quarantined_documents(user=administrator)) == [document]
    assert list(quarantined_documents(user=clinician)) == []


def test_eicar_file_is_quarantined(filesystem_storage, scanner, clinician, patient):
    # EICAR's 68 ASCII bytes are no PDF or image, so upload validation would refuse them before any scan.
    # Here they are stored as if a file had passed validation, to prove the scanner stage catches them.
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    storage.put_bytes(key=document.storage_key, data=EICAR, content_type="application/pdf")
    assert scan_document(str(document.pk)) == "infected"
    document.refresh_from_db()
    assert document.scan_status == ScanStatus.INFECTED
    assert document.scan_signature == EICAR_SIGNATURE


def test_scanner_down_leaves_pending_and_retries(filesystem_storage, scanner, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    scanner.stop()
    with pytest.raises(ScannerUnavailable):
        scan_document(str(document.pk))
    document.refresh_from_db()
    assert document.scan_status == ScanStatus.PENDING
    assert document.scan_attempts == 1
    assert factories.token_client(clinician).get(f"/api/documents/{document.pk}/content").status_code == 409
    scanner.start()
    assert scan_document(str(document.pk)) == "clean"


def test_scanning_twice_records_one_verdict(filesystem_storage, scanner, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert scan_document(str(document.pk)) == "clean"
    assert scan_document(str(document.pk)) == "skipped"
    assert AuditEvent.objects.filter(action="document.scanned", object_id=str(document.pk)).count() == 1


def test_a_document_no_longer_pending_is_skipped_without_counting_an_attempt(
    filesystem_storage, scanner, clinician, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert scan_document(str(document.pk)) == "clean"
    assert scan_document(str(document.pk)) == "skipped"
    assert scan_document(str(uuid.uuid4())) == "skipped"
    document.refresh_from_db()
    assert document.scan_attempts == 1


def test_two_workers_scanning_the_same_document_record_one_verdict(filesystem_storage, scanner, clinician, patient):
    # Both started before either finished (a redelivered message): the second verdict changes nothing.
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    first = document_begin_scan(document_id=document.pk)
    second = document_begin_scan(document_id=document.pk)
    assert first is not None and second is not None
    assert document_record_scan(document=first, clean=False, signature="Quill.Test.Marker") is not None
    assert document_record_scan(document=second, clean=True) is None
    document.refresh_from_db()
    assert (document.scan_status, document.scan_signature, document.scan_attempts) == (
        ScanStatus.INFECTED,
        "Quill.Test.Marker",
        2,
    )
    events = AuditEvent.objects.filter(
        object_id=str(document.pk), action__in=["document.scanned", "document.quarantined"]
    )
    assert list(events.values_list("action", flat=True)) == ["document.quarantined"]


def test_sweep_requeues_documents_stuck_in_pending(
    settings, filesystem_storage, scanner, eager_celery, clinician, patient
):
    settings.QUILL_SCAN_SWEEP_AFTER_SECONDS = 0
    document = stored_document(user=clinician, patient=patient, data=samples.png(), filename="a.png", clean=False)
    assert sweep_pending_scans() == 1
    document.refresh_from_db()
    assert document.scan_status == ScanStatus.CLEAN


def _worker_env(files_dir, clamd_socket, redis_url) -> dict[str, str]:
    database = django_settings.DATABASES["default"]
    return {
        "DATABASE_URL": f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}",
        "QUILL_STORAGE": "filesystem",
        "QUILL_FILES_DIR": str(files_dir),
        "QUILL_SCANNER": "clamd",
        "QUILL_CLAMD_SOCKET": clamd_socket,
        "QUILL_REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "QUILL_CELERY_EAGER": "false",
        "QUILL_LOG_FORMAT": "text",
    }


def real_pipeline(settings, tmp_path, clamd_server, redis_url) -> dict[str, str]:
    """Point this test at a files folder and clamd a real worker shares; returns the worker's environment."""
    from tests.services.storage import filesystem_settings

    files_dir = tmp_path / "documents"
    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    settings.QUILL_SCANNER = "clamd"
    settings.QUILL_CLAMD_SOCKET = clamd_server.socket_path
    assert redis_url == django_settings.CELERY_BROKER_URL, "run the suite with QUILL_REDIS_URL=<redis_url> (make test)"
    return _worker_env(files_dir, clamd_server.socket_path, redis_url)


def _wait_for_status(document_id: str, wanted: set[str], timeout: float = 60.0) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.scan_status in wanted:
            return document
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} still {document.scan_status} after {timeout}s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_whole_pipeline_through_a_real_worker(settings, tmp_path, clamd_server, redis_url, celery_worker_factory):
    # given a real worker on Redis sharing the test database, the files folder and clamd
    celery_worker_factory(env=real_pipeline(settings, tmp_path, clamd_server, redis_url), queues=["quill"])
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    client = factories.token_client(clinician)
    # when a clean PDF and an infected one are uploaded through the API
    clean = client.post(
        "/api/documents/",
        {"file": SimpleUploadedFile("a.pdf", samples.pdf()), "patient_id": str(patient.pk), "category": "lab"},
        format="multipart",
    )
    infected = client.post(
        "/api/documents/",
        {"file": SimpleUploadedFile("b.pdf", _pdf_with_marker()), "patient_id": str(patient.pk), "category": "lab"},
        format="multipart",
    )
    assert clean.status_code == 201 and infected.status_code == 201
    # then the worker scans both: one clean with a thumbnail, one quarantined
    clean_document = _wait_for_status(clean.json()["id"], {"clean"})
    infected_document = _wait_for_status(infected.json()["id"], {"infected"})
    assert infected_document.scan_signature == QUILL_TEST_MALWARE_SIGNATURE
    deadline = time.monotonic() + 30
    while not Document.objects.get(pk=clean_document.pk).thumbnail_key and time.monotonic() < deadline:
        time.sleep(0.2)
    clean_document.refresh_from_db()
    assert clean_document.thumbnail_key
    assert os.path.exists(os.path.join(settings.QUILL_FILES_DIR, clean_document.thumbnail_key))
    assert client.get(f"/api/documents/{clean_document.pk}/content").status_code == 200
    assert client.get(f"/api/documents/{infected_document.pk}/content").status_code == 409
    assert uuid.UUID(str(clean_document.pk))
