"""GET /api/documents/{id}/content and /download-url: headers, Range, integrity, signed links."""

from __future__ import annotations

import base64
import hashlib
import os
import time

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.documents.errors import IntegrityAbort
from apps.documents.models import Document, Integrity, ScanStatus
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document


def _content(client, document, **headers):
    return client.get(f"/api/documents/{document.pk}/content", **headers)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_full_download_has_bytes_and_safe_headers(any_storage, clinician, patient):
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data, filename="Lettre à Zoë.pdf")
    response = _content(factories.token_client(clinician), document)
    assert response.status_code == 200
    assert _body(response) == data
    digest = hashlib.sha256(data)
    assert response["ETag"] == f'"{digest.hexdigest()}"'
    assert response["Repr-Digest"] == "sha-256=:" + base64.b64encode(digest.digest()).decode() + ":"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(data))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Cache-Control"] == "private, no-store"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Lettre%20%C3%A0%20Zo%C3%AB.pdf" in disposition
    assert 'filename="Lettre a Zoe.pdf"' in disposition
    assert AuditEvent.objects.filter(action="document.downloaded", object_id=str(document.pk)).count() == 1


def test_inline_download_is_framed_by_quill_only(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), filename="Lettre à Zoë.pdf")

    response = factories.token_client(clinician).get(f"/api/documents/{document.pk}/content?disposition=inline")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "inline; filename=\"Lettre a Zoe.pdf\"; filename*=UTF-8''Lettre%20%C3%A0%20Zo%C3%AB.pdf"
    )
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Content-Security-Policy"].startswith("default-src 'none'; img-src 'self'")


def test_full_download_reads_the_document_with_its_patient_in_one_query(
    filesystem_storage, clinician, patient, django_assert_num_queries
):
    # Token, document + patient (the restricted-record rule), audit append: nothing lazily loaded after.
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data)
    client = factories.token_client(clinician)
    assert _body(_content(client, document)) == data  # the token's last_used_at write happens once
    with django_assert_num_queries(3) as captured:
        assert _body(_content(client, document)) == data
    lookups = [q["sql"] for q in captured.captured_queries if 'FROM "documents_document"' in q["sql"]]
    assert len(lookups) == 1
    assert '"patients_patient"' in lookups[0] and '"accounts_user"' not in lookups[0]
    assert "ORDER BY" not in lookups[0]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-10", 10, 10)],
    ids=["first-100", "open-ended", "suffix", "one-byte"],
)
def test_range_requests_answer_206(any_storage, clinician, patient, header, start, end):
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data)
    response = _content(factories.token_client(clinician), document, HTTP_RANGE=header)
    expected = data[start:] if end is None else data[start : end + 1]
    assert response.status_code == 206
    assert _body(response) == expected
    first = start if start >= 0 else len(data) + start
    assert response["Content-Range"] == f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    assert response["Content-Length"] == str(len(expected))
    assert response["Repr-Digest"].startswith("sha-256=:")


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=50-10", "bytes=-0"], ids=["past-end", "backwards", "zero"])
def test_unsatisfiable_range_answers_416(filesystem_storage, clinician, patient, header):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = _content(factories.token_client(clinician), document, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{document.size}"
    assert response.json()["detail"]["error_code"] == "range_not_satisfiable"


def test_if_range_with_another_etag_answers_the_whole_document(filesystem_storage, clinician, patient):
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data)
    client = factories.token_client(clinician)

    stale = _content(client, document, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"0000"')
    current = _content(client, document, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=f'"{document.sha256}"')

    assert (stale.status_code, _body(stale)) == (200, data)
    assert (current.status_code, _body(current)) == (206, data[:10])


def test_a_disposition_that_is_not_one_of_the_two_is_refused(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = factories.token_client(clinician).get(f"/api/documents/{document.pk}/content?disposition=frame")
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "invalid_choice"


def test_matching_etag_answers_304(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.png(), filename="photo.png")
    response = _content(factories.token_client(clinician), document, HTTP_IF_NONE_MATCH=f'"{document.sha256}"')
    assert response.status_code == 304


@pytest.mark.parametrize(
    ("status", "error_code"), [("pending", "scan_pending"), ("infected", "quarantined"), ("error", "scan_pending")]
)
def test_documents_not_clean_are_never_served(filesystem_storage, clinician, patient, status, error_code):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    Document.objects.filter(pk=document.pk).update(scan_status=status)
    client = factories.token_client(clinician)
    for path in ("content", "download-url"):
        response = client.get(f"/api/documents/{document.pk}/{path}")
        assert response.status_code == 409
        assert response.json()["detail"]["error_code"] == error_code


def _replace_stored(document: Document, data: bytes) -> None:
    """Change the stored object behind Quill's back (bit rot, a bad restore)."""
    if storage.is_s3():
        storage.put_bytes(key=document.storage_key, data=data, content_type=document.content_type)
    else:
        path = os.path.join(str(storage.documents_storage().location), document.storage_key)
        with open(path, "wb") as handle:
            handle.write(data)


def _flip_one_byte(document: Document) -> bytes:
    data = bytearray(b"".join(storage.open_range(document.storage_key)))
    data[len(data) // 2] ^= 0xFF
    _replace_stored(document, bytes(data))
    return bytes(data)


def _large_dicom(size: int) -> bytes:
    """A valid DICOM file several storage chunks long: the sample with `size` bytes of pixel data."""
    return samples.dicom_with_pixel_data(samples.random_binary(size))


def _stored_large_dicom(clinician, patient) -> Document:
    data = _large_dicom(storage.CHUNK_SIZE * 5 // 2)
    return stored_document(user=clinician, patient=patient, data=data, filename="scan.dcm", category="imaging")


def _read_until_abort(response) -> bytes:
    received = b""
    with pytest.raises(IntegrityAbort):
        for chunk in response.streaming_content:
            received += chunk
    return received


def test_flipped_byte_aborts_download_and_marks_corrupt(any_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(pages=30))
    _flip_one_byte(document)
    response = _content(factories.token_client(clinician), document)
    assert response.status_code == 200  # headers were sent before the mismatch could be known
    received = b""
    with pytest.raises(Exception, match="integrity"):
        for chunk in response.streaming_content:
            received += chunk
    assert len(received) < document.size  # the body was cut short, never delivered whole
    document.refresh_from_db()
    assert document.integrity == Integrity.CORRUPT
    assert AuditEvent.objects.filter(action="document.integrity_failed", object_id=str(document.pk)).count() == 1
    again = _content(factories.token_client(clinician), document)
    assert again.status_code == 409
    assert again.json()["detail"]["error_code"] == "document_corrupt"


def test_large_download_streams_in_chunks_and_arrives_whole(any_storage, clinician, patient):
    document = _stored_large_dicom(clinician, patient)
    data = b"".join(storage.open_range(document.storage_key))
    response = _content(factories.token_client(clinician), document)
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    assert b"".join(chunks) == data
    assert hashlib.sha256(data).hexdigest() == document.sha256
    document.refresh_from_db()
    assert document.integrity == Integrity.OK


def test_flipped_byte_in_a_large_document_withholds_the_last_chunk(any_storage, clinician, patient):
    document = _stored_large_dicom(clinician, patient)
    flipped = _flip_one_byte(document)
    response = _content(factories.token_client(clinician), document)
    received = _read_until_abort(response)
    assert 0 < len(received) < document.size  # earlier chunks streamed as read; the completing one never came
    assert flipped.startswith(received)
    document.refresh_from_db()
    assert document.integrity == Integrity.CORRUPT
    assert AuditEvent.objects.filter(action="document.integrity_failed", object_id=str(document.pk)).count() == 1


@pytest.mark.parametrize(
    "change", [lambda data: data[:-1000], lambda data: data + b"appended"], ids=["shorter", "longer"]
)
def test_stored_object_of_another_length_never_completes_the_download(any_storage, clinician, patient, change):
    document = _stored_large_dicom(clinician, patient)
    _replace_stored(document, change(b"".join(storage.open_range(document.storage_key))))
    received = _read_until_abort(_content(factories.token_client(clinician), document))
    assert len(received) < document.size
    document.refresh_from_db()
    assert document.integrity == Integrity.CORRUPT


def test_storage_outage_answers_503_and_marks_nothing_corrupt(s3_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    s3_storage.stop()
    response = _content(factories.token_client(clinician), document)
    assert response.status_code == 503
    assert response.json()["detail"]["error_code"] == "storage_unavailable"
    document.refresh_from_db()
    assert document.integrity == Integrity.OK


def test_signed_url_on_filesystem_downloads_then_expires(settings, filesystem_storage, clinician, patient):
    settings.QUILL_SIGNED_URL_SECONDS = 2
    data = samples.jpeg()
    document = stored_document(user=clinician, patient=patient, data=data, filename="scan.jpg", category="imaging")
    client = factories.token_client(clinician)
    answer = client.get(f"/api/documents/{document.pk}/download-url")
    assert answer.status_code == 200
    url = answer.json()["url"]
    assert answer.json()["expires_at"]
    path = url.split("testserver", 1)[1]
    anonymous = factories.APIClient()
    fetched = anonymous.get(path)
    assert fetched.status_code == 200 and _body(fetched) == data
    altered = anonymous.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert altered.status_code == 403
    assert altered.json()["detail"]["error_code"] == "link_invalid"
    time.sleep(3)
    expired = anonymous.get(path)
    assert expired.status_code == 403
    assert expired.json()["detail"]["error_code"] == "link_expired"
    assert AuditEvent.objects.filter(action="document.url_issued", object_id=str(document.pk)).count() == 1


def test_presigned_s3_url_downloads_with_filename_then_expires(settings, s3_storage, clinician, patient):
    settings.QUILL_SIGNED_URL_SECONDS = 2
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data, filename="Referral.pdf")
    answer = factories.token_client(clinician).get(f"/api/documents/{document.pk}/download-url")
    assert answer.status_code == 200
    url = answer.json()["url"]
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert "Referral.pdf" in fetched.headers["Content-Disposition"]
    tampered = requests.get(url.replace("X-Amz-Expires=2", "X-Amz-Expires=9999"), timeout=10)
    assert tampered.status_code == 403
    time.sleep(3.5)
    assert requests.get(url, timeout=10).status_code == 403


ENDPOINTS = [
    ("get", "/api/documents/{id}/"),
    ("patch", "/api/documents/{id}/"),
    ("delete", "/api/documents/{id}/"),
    ("post", "/api/documents/{id}/restore/"),
    ("get", "/api/documents/{id}/versions/"),
    ("get", "/api/documents/{id}/content"),
    ("get", "/api/documents/{id}/download-url"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m}-{p}" for m, p in ENDPOINTS])
def test_other_organisation_answers_404_everywhere(
    filesystem_storage, clinician, patient, other_clinician, method, path
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    client = factories.token_client(other_clinician)
    response = getattr(client, method)(path.format(id=document.pk), {"reason": "testing isolation"}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"]["error_code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m}-{p}" for m, p in ENDPOINTS])
def test_billing_answers_403_for_clinical_documents(filesystem_storage, clinician, billing_user, patient, method, path):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), category="lab")
    client = factories.token_client(billing_user)
    response = getattr(client, method)(path.format(id=document.pk), {"reason": "testing roles"}, format="json")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="access.denied", actor_id=billing_user.pk).exists()


def test_list_filters_and_paginates_in_constant_queries(
    filesystem_storage, clinician, patient, django_assert_max_num_queries
):
    for n in range(12):
        stored_document(
            user=clinician,
            patient=patient,
            data=samples.png(10 + n, 10),
            filename=f"p{n}.png",
            category="photo" if n % 2 else "imaging",
            document_date=f"2026-01-{n + 1:02d}",
        )
    client = factories.token_client(clinician)
    first = client.get("/api/documents/", {"patient_id": str(patient.pk), "page_size": 5})
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 12 and len(body["results"]) == 5 and body["next"]
    dates = [row["document_date"] for row in body["results"]]
    assert dates == sorted(dates, reverse=True)
    photos = client.get("/api/documents/", {"patient_id": str(patient.pk), "category": "photo"}).json()
    assert photos["count"] == 6
    ranged = client.get("/api/documents/", {"date_from": "2026-01-03", "date_to": "2026-01-05"}).json()
    assert ranged["count"] == 3
    with django_assert_max_num_queries(12) as small:
        client.get("/api/documents/", {"page_size": 2})
    with django_assert_max_num_queries(12) as large:
        client.get("/api/documents/", {"page_size": 12})
    assert len(small.captured_queries) == len(large.captured_queries)


def test_patch_is_audited_with_before_and_after(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Old title")
    response = factories.token_client(clinician).patch(
        f"/api/documents/{document.pk}/", {"title": "New title", "category": "referral"}, format="json"
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="document.updated")
    assert event.details["changes"]["title"] == {"before": "Old title", "after": "New title"}
    assert event.details["changes"]["category"] == {"before": "lab", "after": "referral"}


def test_soft_delete_by_administrator_hides_then_restore(filesystem_storage, clinician, administrator, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    clinician_client = factories.token_client(clinician)
    refused = clinician_client.delete(f"/api/documents/{document.pk}/?reason=duplicate+scan")
    assert refused.status_code == 403
    admin_client = factories.token_client(administrator)
    no_reason = admin_client.delete(f"/api/documents/{document.pk}/")
    assert no_reason.status_code == 400
    assert no_reason.json()["detail"]["fields"] == {"reason": ["This field is required."]}
    too_short = admin_client.delete(f"/api/documents/{document.pk}/?reason=+dup+")
    assert too_short.status_code == 400
    deleted = admin_client.delete(f"/api/documents/{document.pk}/?reason=duplicate+scan")
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    assert clinician_client.get("/api/documents/").json()["count"] == 0
    assert clinician_client.get(f"/api/documents/{document.pk}/content").status_code == 404
    assert storage.exists(document.storage_key)
    restored = admin_client.post(f"/api/documents/{document.pk}/restore/")
    assert restored.status_code == 200
    assert clinician_client.get("/api/documents/").json()["count"] == 1
    actions = list(AuditEvent.objects.filter(object_id=str(document.pk)).values_list("action", flat=True))
    assert "document.deleted" in actions and "document.restored" in actions


def test_scan_states_visible_in_list(filesystem_storage, clinician, patient):
    stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    rows = factories.token_client(clinician).get("/api/documents/", {"scan_status": ScanStatus.PENDING}).json()
    assert rows["count"] == 1


def test_legal_hold_is_for_managers_needs_a_reason_and_is_audited(
    filesystem_storage, clinician, administrator, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    url = f"/api/documents/{document.pk}/legal-hold/"
    refused = factories.token_client(clinician).post(url, {"hold": True, "reason": "case 2026/17"}, format="json")
    assert refused.status_code == 403
    admin = factories.token_client(administrator)
    assert admin.post(url, {"hold": True, "reason": ""}, format="json").status_code == 400
    placed = admin.post(url, {"hold": True, "reason": "case 2026/17"}, format="json")
    assert placed.status_code == 200 and placed.json()["legal_hold"] is True
    assert admin.post(url, {"hold": True, "reason": "case 2026/17"}, format="json").status_code == 409
    lifted = admin.post(url, {"hold": False, "reason": "case closed"}, format="json")
    assert lifted.status_code == 200 and lifted.json()["legal_hold"] is False
    actions = list(AuditEvent.objects.filter(object_id=str(document.pk)).values_list("action", flat=True))
    assert actions.count("document.legal_hold_placed") == 1 and actions.count("document.legal_hold_lifted") == 1


def test_birth_date_correction_recomputes_retention(filesystem_storage, clinician, patient):
    from apps.patients.services import patient_update

    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date="2026-01-10")
    adult_until = Document.objects.get(pk=document.pk).retain_until
    patient_update(actor=clinician, patient=patient, fields={"date_of_birth": "2015-06-01"})
    child_until = Document.objects.get(pk=document.pk).retain_until
    assert child_until > adult_until
