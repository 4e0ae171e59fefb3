"""Bulk upload, all or nothing: through the API and through the portal's bulk page."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from tests import factories
from tests.documents import samples

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _objects(folder) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names] if os.path.exists(folder) else []


def _files(*pairs):
    return [SimpleUploadedFile(name, data) for name, data in pairs]


def test_api_bulk_with_one_bad_file_stores_nothing_and_reports_every_file(
    filesystem_storage, upload_tmp, clinician, patient
):
    # given three files, the second of which is a Windows program named like a PDF
    files = _files(("a.pdf", samples.pdf()), ("b.pdf", samples.windows_executable()), ("c.png", samples.png(40, 30)))
    # when they are sent as one bulk upload
    response = factories.token_client(clinician).post(
        "/api/documents/bulk/",
        {"files": files, "patient_id": str(patient.pk), "category": "lab"},
        format="multipart",
    )
    # then nothing is stored: no rows, no objects, no temp files, no upload events
    assert response.status_code == 415
    assert not Document.objects.exists()
    assert _objects(filesystem_storage) == []
    assert os.listdir(upload_tmp) == []
    assert not AuditEvent.objects.filter(action="document.uploaded").exists()
    # and every file is reported with its outcome and the totals add up
    body = response.json()
    assert (body["stored"], body["refused"], body["total"]) == (0, 1, 3)
    assert [(f["filename"], f["outcome"], f["error_code"]) for f in body["files"]] == [
        ("a.pdf", "not_stored", "batch_refused"),
        ("b.pdf", "refused", "unsupported_type"),
        ("c.png", "not_stored", "batch_refused"),
    ]
    assert all(f["message"] for f in body["files"])
    assert body["detail"]["error_code"] == "bulk_refused"


def test_api_bulk_of_good_files_stores_them_all(filesystem_storage, upload_tmp, clinician, patient):
    files = _files(("a.pdf", samples.pdf()), ("b.png", samples.png(40, 30)))
    response = factories.token_client(clinician).post(
        "/api/documents/bulk/",
        {"files": files, "patient_id": str(patient.pk), "category": "lab", "encounter_id": "E2"},
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["stored"], body["refused"], body["total"]) == (2, 0, 2)
    assert [f["outcome"] for f in body["files"]] == ["stored", "stored"]
    assert Document.objects.filter(patient=patient, encounter_id="E2").count() == 2
    assert len(_objects(filesystem_storage)) == 2
    assert os.listdir(upload_tmp) == []


def test_api_bulk_over_the_size_limit_keeps_nothing(settings, filesystem_storage, upload_tmp, clinician, patient):
    settings.QUILL_MAX_UPLOAD_BYTES = 2000
    files = _files(("small.png", samples.png(10, 10)), ("big.pdf", samples.pdf(5)))
    response = factories.token_client(clinician).post(
        "/api/documents/bulk/", {"files": files, "patient_id": str(patient.pk), "category": "lab"}, format="multipart"
    )
    assert response.status_code == 413
    assert response.json()["detail"]["error_code"] == "file_too_large"
    assert not Document.objects.exists()
    assert os.listdir(upload_tmp) == []


def test_portal_bulk_page_reports_each_file_and_stores_nothing_on_a_refusal(
    filesystem_storage, upload_tmp, clinician, patient
):
    client = factories.signed_in_client(clinician)
    files = _files(("ok.pdf", samples.pdf()), ("broken.pdf", samples.truncated_pdf()))
    response = client.post(reverse("documents:bulk", args=[patient.pk]), {"files": files, "category": "lab"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "0 stored, 1 refused, 2 in total. Nothing was stored." in html
    assert "batch_refused" in html and "corrupt_file" in html
    assert not Document.objects.exists()
    assert _objects(filesystem_storage) == []
    assert os.listdir(upload_tmp) == []


def test_portal_bulk_page_stores_all_good_files(filesystem_storage, clinician, patient):
    client = factories.signed_in_client(clinician)
    files = _files(("one.pdf", samples.pdf()), ("two.pdf", samples.pdf(1)), ("three.png", samples.png(20, 20)))
    response = client.post(reverse("documents:bulk", args=[patient.pk]), {"files": files, "category": "referral"})
    assert response.status_code == 201
    assert "3 stored, 0 refused, 3 in total." in response.content.decode()
    assert sorted(Document.objects.values_list("title", flat=True)) == ["one", "three", "two"]


# --- each file's own details (titles, categories, document_dates) ----------------------------------


def _bulk(user, patient, files, **fields):
    body = {"files": files, "patient_id": str(patient.pk), **fields}
    return factories.token_client(user).post("/api/documents/bulk/", body, format="multipart")


def _three():
    return _files(("a.pdf", samples.pdf()), ("b.png", samples.png(20, 20)), ("c.pdf", samples.pdf(1)))


def test_api_bulk_gives_each_file_its_own_title_category_and_date(filesystem_storage, upload_tmp, clinician, patient):
    # given three files, the second left to the shared values (empty entries)
    response = _bulk(
        clinician,
        patient,
        _three(),
        category="lab",
        document_date="2025-01-01",
        encounter_id="E9",
        titles=["Chest X-ray", "", " Consent signed "],
        categories=["imaging", "", "consent"],
        document_dates=["2025-02-03", "", "2024-12-01"],
    )

    assert response.status_code == 201, response.content
    stored = Document.objects.filter(patient=patient).order_by("original_filename")
    assert [(d.title, d.category, d.document_date.isoformat(), d.encounter_id) for d in stored] == [
        ("Chest X-ray", "imaging", "2025-02-03", "E9"),
        ("b", "lab", "2025-01-01", "E9"),
        ("Consent signed", "consent", "2024-12-01", "E9"),
    ]
    assert [f["document"]["title"] for f in response.json()["files"]] == ["Chest X-ray", "b", "Consent signed"]


def test_api_bulk_needs_no_shared_category_when_every_file_has_its_own(filesystem_storage, clinician, patient):
    files = _files(("a.pdf", samples.pdf()), ("b.pdf", samples.pdf(1)))

    response = _bulk(clinician, patient, files, categories=["referral", "letter"])

    assert response.status_code == 201, response.content
    assert sorted(Document.objects.values_list("category", flat=True)) == ["letter", "referral"]


@pytest.mark.parametrize(
    ("fields", "error_code", "message"),
    [
        ({"document_dates": ["", "2025-13-45", ""]}, "invalid_file_details", "“2025-13-45” is not a clinical date"),
        ({"document_dates": ["", "14/03/2025", ""]}, "invalid_file_details", "use YYYY-MM-DD"),
        ({"titles": ["", "t" * 256, ""]}, "invalid_file_details", "shorten it to 255 or fewer"),
        ({"titles": ["", "bad\x00title", ""]}, "invalid_file_details", "cannot be stored"),
        ({"categories": ["", "recipes", ""]}, "invalid_category", "not one of Quill's document categories"),
    ],
    ids=["impossible-date", "not-iso-date", "long-title", "nul-in-title", "unknown-category"],
)
def test_api_bulk_refuses_the_file_whose_own_details_cannot_be_used_and_stores_nothing(
    filesystem_storage, upload_tmp, clinician, patient, fields, error_code, message
):
    response = _bulk(clinician, patient, _three(), category="lab", **fields)

    assert response.status_code == 400
    body = response.json()
    assert body["detail"]["error_code"] == "bulk_refused"
    assert [(f["filename"], f["outcome"], f["error_code"]) for f in body["files"]] == [
        ("a.pdf", "not_stored", "batch_refused"),
        ("b.png", "refused", error_code),
        ("c.pdf", "not_stored", "batch_refused"),
    ]
    assert message in body["files"][1]["message"]
    assert not Document.objects.exists()
    assert _objects(filesystem_storage) == []
    assert os.listdir(upload_tmp) == []


def test_api_bulk_refuses_a_file_left_without_any_category(filesystem_storage, upload_tmp, clinician, patient):
    files = _files(("a.pdf", samples.pdf()), ("b.pdf", samples.pdf(1)))

    response = _bulk(clinician, patient, files, categories=["lab", ""])

    assert response.status_code == 400
    refused = response.json()["files"][1]
    assert (refused["outcome"], refused["error_code"]) == ("refused", "invalid_category")
    assert refused["message"] == "Choose a category for this file."
    assert not Document.objects.exists()
    assert os.listdir(upload_tmp) == []


@pytest.mark.parametrize("name", ["titles", "categories", "document_dates"])
def test_api_bulk_refuses_details_that_do_not_pair_with_the_files(
    filesystem_storage, upload_tmp, clinician, patient, name
):
    values = {"titles": ["One", "Two"], "categories": ["lab", "lab"], "document_dates": ["2025-01-01", ""]}[name]

    response = _bulk(clinician, patient, _three(), category="lab", **{name: values})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error_code"] == "bulk_details_mismatch"
    assert f"“{name}” was sent 2 times for 3 files" in detail["message"]
    assert not Document.objects.exists()
    assert _objects(filesystem_storage) == []
    assert os.listdir(upload_tmp) == []


def test_api_bulk_lets_billing_file_only_insurance_per_file(filesystem_storage, upload_tmp, billing_user, patient):
    files = _files(("claim.pdf", samples.pdf()), ("results.pdf", samples.pdf(1)))

    refused = _bulk(billing_user, patient, files, category="insurance", categories=["", "lab"])

    assert refused.status_code == 400
    outcome = refused.json()["files"][1]
    assert (outcome["outcome"], outcome["error_code"]) == ("refused", "permission_denied")
    assert not Document.objects.exists()
    assert os.listdir(upload_tmp) == []

    files = _files(("claim.pdf", samples.pdf()), ("policy.pdf", samples.pdf(1)))
    stored = _bulk(billing_user, patient, files, categories=["insurance", "insurance"], titles=["Claim", "Policy"])
    assert stored.status_code == 201
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Claim", "Policy"]


def test_api_bulk_keeps_a_shared_title_for_a_single_file_only(filesystem_storage, clinician, patient):
    one = _bulk(clinician, patient, _files(("a.pdf", samples.pdf())), category="lab", title="Shared")
    two = _bulk(
        clinician, patient, _files(("b.pdf", samples.pdf()), ("c.pdf", samples.pdf(1))), category="lab", title="Shared"
    )

    assert (one.status_code, two.status_code) == (201, 201)
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Shared", "b", "c"]
