"""POST /api/documents/upload/: the file as the request body, Repr-Digest checked, large files streamed to S3."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from urllib.parse import urlencode

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage, streaming
from apps.files.errors import FileTooLarge, IncompleteBody, InvalidDigest
from tests import factories
from tests.documents import samples
from tests.documents.test_upload_api import assert_nothing_stored

URL = "/api/documents/upload/"
LARGE = 20 * 1024 * 1024  # above streaming.STREAM_THRESHOLD: three 8 MiB parts (8 + 8 + 4)


def digest_header(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def large_dicom(size: int = LARGE) -> bytes:
    """A valid DICOM file of exactly `size` bytes whose pixel data is noise."""
    element_header = 12  # tag, "OB", reserved, 4-byte length
    data = samples.dicom_with_pixel_data(os.urandom(size - len(samples.dicom()) - element_header))
    assert len(data) == size
    return data


def _post(client, patient, filename, data, *, digest: str | None = None, extra=None, **fields):
    query = {"patient_id": str(patient.pk), "category": "imaging", "filename": filename, **fields}
    headers = {"Repr-Digest": digest} if digest else {}
    return client.generic(
        "POST",
        f"{URL}?{urlencode(query)}",
        data,
        content_type="application/octet-stream",
        headers=headers,
        **(extra or {}),
    )


@pytest.fixture
def stream_uploads(settings):
    settings.QUILL_S3_STREAM_UPLOADS = True


def pending_multipart_uploads() -> list:
    client, bucket = storage._s3_client_and_bucket()
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.parametrize("with_digest", [False, True], ids=["no-digest", "digest"])
def test_small_file_as_the_body_is_stored(
    any_storage, clinician, patient, upload_tmp, with_digest, django_capture_on_commit_callbacks
):
    client = factories.token_client(clinician)
    data = samples.pdf()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(
            client,
            patient,
            "Referral.pdf",
            data,
            digest=digest_header(data) if with_digest else None,
            category="referral",
            encounter_id="ENC-9",
            document_date="2026-09-30",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["title"] == "Referral"
    assert body["category"] == "referral"
    assert body["encounter_id"] == "ENC-9"
    assert body["document_date"] == "2026-09-30"
    document = Document.objects.get(pk=body["id"])
    assert b"".join(storage.open_range(document.storage_key)) == data
    if any_storage == "s3":
        assert storage.stored_sha256(document.storage_key) == document.sha256
    assert AuditEvent.objects.filter(action="document.uploaded", object_id=str(document.pk)).count() == 1
    assert len(callbacks) == 1
    assert os.listdir(upload_tmp) == []


def test_large_file_with_digest_is_streamed_into_s3_in_parts(
    s3_storage, stream_uploads, clinician, patient, upload_tmp
):
    client = factories.token_client(clinician)
    data = large_dicom()
    response = _post(client, patient, "ct-head.dcm", data, digest=digest_header(data))
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert document.storage_key.endswith(".dcm")
    assert hashlib.sha256(b"".join(storage.open_range(document.storage_key))).hexdigest() == document.sha256
    s3, bucket = storage._s3_client_and_bucket()
    head = s3.head_object(Bucket=bucket, Key=document.storage_key)
    assert head["Metadata"]["sha256"] == document.sha256
    assert head["ContentType"] == "application/dicom"
    # Streamed parts are PART_SIZE (8 MiB): three of them; the put after receiving would use 16 MiB parts (two).
    assert head["ETag"].strip('"').endswith("-3")
    assert pending_multipart_uploads() == []
    assert os.listdir(upload_tmp) == []


def test_without_the_setting_a_large_file_is_put_after_receiving(s3_storage, clinician, patient, upload_tmp):
    client = factories.token_client(clinician)
    data = large_dicom()
    response = _post(client, patient, "ct-head.dcm", data, digest=digest_header(data))
    assert response.status_code == 201, response.content
    s3, bucket = storage._s3_client_and_bucket()
    key = Document.objects.get(pk=response.json()["id"]).storage_key
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"').endswith("-2")  # put_file's 16 MiB parts


def test_large_file_without_digest_is_put_after_receiving(s3_storage, stream_uploads, clinician, patient, upload_tmp):
    client = factories.token_client(clinician)
    data = large_dicom()
    response = _post(client, patient, "ct-head.dcm", data)
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    s3, bucket = storage._s3_client_and_bucket()
    head = s3.head_object(Bucket=bucket, Key=document.storage_key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert head["ETag"].strip('"').endswith("-2")


@pytest.mark.parametrize("size", [8 * 1024, LARGE], ids=["small", "large-streamed"])
def test_digest_mismatch_stores_nothing(
    any_storage, stream_uploads, clinician, patient, upload_tmp, size, django_capture_on_commit_callbacks
):
    client = factories.token_client(clinician)
    data = large_dicom(size)
    sent_for = bytearray(data)
    sent_for[-1] ^= 0xFF  # the client's digest is of other bytes (corrupted in transit, say)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, patient, "ct.dcm", data, digest=digest_header(bytes(sent_for)))
    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error_code"] == "digest_mismatch"
    assert "does not match" in response.json()["detail"]["message"]
    assert_nothing_stored(upload_tmp, patient, callbacks)
    if any_storage == "s3":
        assert pending_multipart_uploads() == []


STREAMED_REFUSALS = [
    pytest.param("ct.pdf", large_dicom, 415, "extension_mismatch", id="dicom-named-pdf"),
    pytest.param("scan.pdf", lambda: b"%PDF-1.7\n" + os.urandom(LARGE), 400, "corrupt_file", id="corrupt-pdf"),
]


@pytest.mark.parametrize(("filename", "make", "status", "error_code"), STREAMED_REFUSALS)
def test_refusal_after_streaming_aborts_the_upload(
    s3_storage,
    stream_uploads,
    clinician,
    patient,
    upload_tmp,
    filename,
    make,
    status,
    error_code,
    django_capture_on_commit_callbacks,
):
    client = factories.token_client(clinician)
    data = make()
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, patient, filename, data, digest=digest_header(data))
    assert response.status_code == status, response.content
    assert response.json()["detail"]["error_code"] == error_code
    assert_nothing_stored(upload_tmp, patient, callbacks)
    assert pending_multipart_uploads() == []


REQUEST_REFUSALS = [
    pytest.param({"digest": "sha-256=:bm90IGEgZGlnZXN0:"}, 400, "invalid_digest", id="digest-wrong-length"),
    pytest.param({"digest": "sha-256=abc"}, 400, "invalid_digest", id="digest-unparseable"),
    pytest.param({"category": "recipes"}, 400, "invalid_category", id="bad-category"),
    pytest.param({"extra": {"CONTENT_LENGTH": ""}}, 411, "length_required", id="no-content-length"),
    pytest.param({"filename": "scan.jpg"}, 415, "extension_mismatch", id="pdf-named-jpg"),
]


@pytest.mark.parametrize(("change", "status", "error_code"), REQUEST_REFUSALS)
def test_refused_request_stores_nothing(filesystem_storage, clinician, patient, upload_tmp, change, status, error_code):
    client = factories.token_client(clinician)
    change = dict(change)
    filename = change.pop("filename", "letter.pdf")
    response = _post(client, patient, filename, samples.pdf(), **change)
    assert response.status_code == status, response.content
    assert response.json()["detail"]["error_code"] == error_code
    assert response.json()["detail"]["message"]
    assert_nothing_stored(upload_tmp, patient)


def test_missing_filename_is_refused(filesystem_storage, clinician, patient, upload_tmp):
    client = factories.token_client(clinician)
    query = urlencode({"patient_id": str(patient.pk), "category": "lab"})
    response = client.generic("POST", f"{URL}?{query}", samples.pdf(), content_type="application/pdf")
    assert response.status_code == 400
    assert "filename" in response.json()["detail"]["message"]
    assert_nothing_stored(upload_tmp, patient)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=x", b"--x--"),
        ("application/x-www-form-urlencoded", samples.pdf()),  # curl --data-binary without -H Content-Type
    ],
    ids=["multipart", "form-urlencoded"],
)
def test_form_bodies_are_refused_with_a_pointer(filesystem_storage, clinician, patient, upload_tmp, content_type, body):
    client = factories.token_client(clinician)
    query = urlencode({"patient_id": str(patient.pk), "category": "lab", "filename": "a.pdf"})
    response = client.generic("POST", f"{URL}?{query}", body, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["detail"]["error_code"] == "unsupported_media_type"
    assert "Content-Type" in response.json()["detail"]["message"]
    assert "/api/documents/" in response.json()["detail"]["message"]
    assert_nothing_stored(upload_tmp, patient)


def test_announced_size_over_the_limit_is_refused_before_reading(
    settings, filesystem_storage, clinician, patient, upload_tmp
):
    settings.QUILL_MAX_UPLOAD_BYTES = 64 * 1024
    client = factories.token_client(clinician)
    response = _post(client, patient, "big.pdf", samples.pdf() + b"0" * (100 * 1024))
    assert response.status_code == 413
    assert response.json()["detail"]["error_code"] == "file_too_large"
    assert_nothing_stored(upload_tmp, patient)


def test_unauthenticated_upload_is_refused(filesystem_storage, patient, upload_tmp):
    from rest_framework.test import APIClient

    response = _post(APIClient(), patient, "a.pdf", samples.pdf())
    assert response.status_code == 401
    assert_nothing_stored(upload_tmp, patient)


@pytest.mark.parametrize("size", [8 * 1024, LARGE], ids=["small", "large-streamed"])
def test_storage_down_answers_503_and_writes_no_row(s3_storage, stream_uploads, clinician, patient, upload_tmp, size):
    client = factories.token_client(clinician)
    data = large_dicom(size)
    s3_storage.stop()
    response = _post(client, patient, "ct.dcm", data, digest=digest_header(data))
    assert response.status_code == 503
    assert response.json()["detail"]["error_code"] == "storage_unavailable"
    assert Document.objects.count() == 0
    assert os.listdir(upload_tmp) == []


def test_database_failure_after_a_streamed_put_removes_the_object(
    s3_storage, stream_uploads, clinician, patient, upload_tmp, monkeypatch
):
    from apps.documents.services import upload as upload_service

    def failing_audit(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(upload_service, "audit_record", failing_audit)
    client = factories.token_client(clinician)
    data = large_dicom()
    with pytest.raises(RuntimeError):
        _post(client, patient, "ct.dcm", data, digest=digest_header(data))
    assert Document.objects.count() == 0
    assert list(storage.list_keys(f"{patient.organisation_id}/")) == []
    assert pending_multipart_uploads() == []


# --- the pieces ------------------------------------------------------------------------------------


def test_receive_body_refuses_a_body_that_ends_early(tmp_path):
    data = samples.pdf()
    with pytest.raises(IncompleteBody) as excinfo:
        streaming.receive_body(
            io.BytesIO(data[:100]), length=len(data), max_bytes=1 << 20, filename="a.pdf", tmp_dir=str(tmp_path)
        )
    assert excinfo.value.error_code == "incomplete_upload"
    assert excinfo.value.received == 100
    assert os.listdir(tmp_path) == []


def test_receive_body_refuses_an_announced_size_over_the_limit_without_reading(tmp_path):
    stream = io.BytesIO(b"x" * 10)
    with pytest.raises(FileTooLarge):
        streaming.receive_body(stream, length=2048, max_bytes=1024, filename="a.pdf", tmp_dir=str(tmp_path))
    assert stream.tell() == 0
    assert os.listdir(tmp_path) == []


def test_parse_repr_digest():
    data = b"hello"
    expected = hashlib.sha256(data).hexdigest()
    b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert streaming.parse_repr_digest("") == ""
    assert streaming.parse_repr_digest(f"sha-256=:{b64}:") == expected
    assert streaming.parse_repr_digest(f"SHA-256=:{b64}:") == expected
    sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert streaming.parse_repr_digest(f"sha-512=:{sha512}:, sha-256=:{b64}:") == expected
    assert streaming.parse_repr_digest(f"sha-512=:{sha512}:") == ""  # other algorithms are ignored
    for bad in ("sha-256", "sha-256=:!!:", f"sha-256={b64}", "sha-256=:aGk=:", ":abc:"):
        with pytest.raises(InvalidDigest):
            streaming.parse_repr_digest(bad)


# --- integrity of the transfer into the store ---------------------------------------------------


@pytest.mark.parametrize("operation", ["PutObject", "UploadPart"])
def test_a_body_changed_on_the_way_to_s3_is_refused_by_the_store(
    s3_storage, stream_uploads, clinician, patient, upload_tmp, operation
):
    """SeaweedFS does not check SigV4's payload hash; botocore's CRC32 checksum, which it does check, must stay on."""
    client, _ = storage._s3_client_and_bucket()

    def corrupt(request, **kwargs):
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        request.body = bytes([body[0] ^ 0xFF]) + body[1:]

    client.meta.events.register(f"before-send.s3.{operation}", corrupt)
    try:
        data = large_dicom() if operation == "UploadPart" else samples.pdf()
        name = "ct.dcm" if operation == "UploadPart" else "letter.pdf"
        response = _post(factories.token_client(clinician), patient, name, data, digest=digest_header(data))
    finally:
        client.meta.events.unregister(f"before-send.s3.{operation}", corrupt)
    assert response.status_code == 503, response.content
    assert response.json()["detail"]["error_code"] == "storage_unavailable"
    assert Document.objects.count() == 0
    assert list(storage.list_keys(f"{patient.organisation_id}/")) == []
    assert pending_multipart_uploads() == []
