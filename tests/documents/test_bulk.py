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
