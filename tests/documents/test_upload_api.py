"""POST /api/documents/: accepted files, and every refusal with nothing stored."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from tests import factories
from tests.documents import samples

URL = "/api/documents/"


def _post(client, patient, name, data, **fields):
    body = {"file": SimpleUploadedFile(name, data), "patient_id": str(patient.pk), "category": "lab", **fields}
    return client.post(URL, body, format="multipart")


def assert_nothing_stored(upload_tmp, patient, callbacks=()):
    assert Document.objects.count() == 0
    assert list(storage.list_keys(f"{patient.organisation_id}/")) == []
    assert os.listdir(upload_tmp) == []
    assert not AuditEvent.objects.filter(action="document.uploaded").exists()
    assert list(callbacks) == []


def test_upload_pdf_stores_object_row_and_event(
    any_storage, clinician, patient, upload_tmp, django_capture_on_commit_callbacks
):
    # given a clinician with an API token and a valid PDF
    client = factories.token_client(clinician)
    data = samples.pdf()
    # when it is uploaded
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            client, patient, "Discharge summary.pdf", data, title="", encounter_id="ENC-1", document_date="2026-10-01"
        )
    # then the answer describes the stored document
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size"] == len(data)
    assert body["content_type"] == "application/pdf"
    assert body["title"] == "Discharge summary"
    assert body["filename"] == "Discharge summary.pdf"
    assert body["scan_status"] == "pending"
    assert body["encounter_id"] == "ENC-1"
    assert body["document_date"] == "2026-10-01"
    assert body["patient_id"] == str(patient.pk)
    assert set(body) >= {"id", "category", "uploaded_at", "uploaded_by"}
    document = Document.objects.get(pk=body["id"])
    # and the key has no user-typed text, the object and its sha256 metadata are there
    assert "Discharge" not in document.storage_key
    assert document.storage_key.startswith(f"{patient.organisation_id}/{patient.pk}/documents/")
    assert b"".join(storage.open_range(document.storage_key)) == data
    if any_storage == "s3":
        assert storage.stored_sha256(document.storage_key) == document.sha256
    # and one audit event in the same transaction, one scan queued on commit, no temp file left
    event = AuditEvent.objects.get(action="document.uploaded")
    assert event.object_id == str(document.pk) and event.patient_id == patient.pk
    assert len(callbacks) == 1
    assert os.listdir(upload_tmp) == []


REFUSALS = [
    pytest.param("x.pdf", samples.encrypted_pdf, {}, 400, "encrypted_pdf", id="encrypted-pdf"),
    pytest.param("x.pdf", samples.pdf_with_open_action_javascript, {}, 400, "active_content", id="javascript-pdf"),
    pytest.param("x.pdf", samples.pdf_with_embedded_file, {}, 400, "active_content", id="embedded-file-pdf"),
    pytest.param("x.pdf", samples.truncated_pdf, {}, 400, "corrupt_file", id="truncated-pdf"),
    pytest.param("x.png", samples.pixel_bomb_png, {}, 400, "image_too_large", id="pixel-bomb"),
    pytest.param("x.png", samples.truncated_png, {}, 400, "corrupt_file", id="truncated-png"),
    pytest.param("x.dcm", lambda: samples.dicom_image()[:-7], {}, 400, "corrupt_file", id="truncated-dicom"),
    pytest.param("x.exe", samples.windows_executable, {}, 415, "unsupported_type", id="executable"),
    pytest.param("x.bin", samples.random_binary, {}, 415, "unsupported_type", id="random-binary"),
    pytest.param("x.jpg", samples.pdf, {}, 415, "extension_mismatch", id="pdf-named-jpg"),
    pytest.param("x.pdf", lambda: b"", {}, 400, "empty_file", id="empty"),
    pytest.param("x.pdf", samples.pdf, {"category": "recipes"}, 400, "invalid_category", id="bad-category"),
]


@pytest.mark.parametrize(("name", "make", "fields", "status", "error_code"), REFUSALS)
def test_refused_upload_stores_nothing(
    any_storage,
    clinician,
    patient,
    upload_tmp,
    name,
    make,
    fields,
    status,
    error_code,
    django_capture_on_commit_callbacks,
):
    client = factories.token_client(clinician)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, patient, name, make(), **fields)
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail["error_code"] == error_code
    assert detail["message"]
    assert_nothing_stored(upload_tmp, patient, callbacks)


def test_dicom_over_the_pixel_limit_stores_nothing(
    settings, filesystem_storage, clinician, patient, upload_tmp, django_capture_on_commit_callbacks
):
    settings.QUILL_MAX_IMAGE_PIXELS = 4 * 5 * 3 - 1
    client = factories.token_client(clinician)

    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            client, patient, "ct.dcm", samples.dicom_image(rows=4, columns=5, frames=3), category="imaging"
        )

    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error_code"] == "image_too_large"
    assert_nothing_stored(upload_tmp, patient, callbacks)


def test_file_over_the_limit_is_refused_while_reading(settings, filesystem_storage, clinician, patient, upload_tmp):
    settings.QUILL_MAX_UPLOAD_BYTES = 64 * 1024
    client = factories.token_client(clinician)
    response = _post(client, patient, "big.pdf", samples.pdf() + b"0" * (200 * 1024))
    assert response.status_code == 413
    assert response.json()["detail"]["error_code"] == "file_too_large"
    assert_nothing_stored(upload_tmp, patient)


def test_missing_file_is_refused(filesystem_storage, clinician, patient, upload_tmp):
    client = factories.token_client(clinician)
    response = client.post(URL, {"patient_id": str(patient.pk), "category": "lab"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "missing_file"
    assert_nothing_stored(upload_tmp, patient)


@pytest.fixture(params=["form", "body"])
def post_upload(request):
    """Both ways in: this endpoint's multipart form, and the file as the body (/api/documents/upload/)."""
    if request.param == "form":
        return _post
    from tests.documents.test_direct_upload import _post as post_body

    return post_body


@pytest.mark.parametrize("which", ["unknown", "other-organisation"])
def test_unknown_or_foreign_patient_is_refused(
    filesystem_storage, clinician, patient, other_patient, upload_tmp, which, post_upload
):
    client = factories.token_client(clinician)
    patient_id = "4b0f3f49-3d2e-4c1e-9d7a-000000000000" if which == "unknown" else str(other_patient.pk)
    response = post_upload(client, patient, "a.pdf", samples.pdf(), patient_id=patient_id, category="lab")
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "unknown_patient"
    assert_nothing_stored(upload_tmp, other_patient)


def test_billing_may_upload_only_insurance(filesystem_storage, billing_user, patient, upload_tmp, post_upload):
    client = factories.token_client(billing_user)
    refused = post_upload(client, patient, "a.pdf", samples.pdf(), category="lab")
    assert refused.status_code == 403
    assert refused.json()["detail"]["error_code"] == "permission_denied"
    assert_nothing_stored(upload_tmp, patient)
    accepted = post_upload(client, patient, "policy.pdf", samples.pdf(), category="insurance")
    assert accepted.status_code == 201


def test_storage_down_answers_503_and_writes_no_row(s3_storage, clinician, patient, upload_tmp):
    client = factories.token_client(clinician)
    s3_storage.stop()
    response = _post(client, patient, "a.pdf", samples.pdf())
    assert response.status_code == 503
    assert response.json()["detail"]["error_code"] == "storage_unavailable"
    assert Document.objects.count() == 0
    assert os.listdir(upload_tmp) == []


def test_database_failure_after_put_removes_the_object(any_storage, clinician, patient, upload_tmp, monkeypatch):
    # given the audit append fails after the object was stored (a real failure inside the transaction)
    client = factories.token_client(clinician)
    from apps.documents.services import upload as upload_service

    def failing_audit(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(upload_service, "audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        _post(client, patient, "a.pdf", samples.pdf())
    assert Document.objects.count() == 0
    assert list(storage.list_keys(f"{patient.organisation_id}/")) == []
