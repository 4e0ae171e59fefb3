"""Documents beyond the first upload, in Debian's Chromium against the live server with a real clamd
and Celery worker: uploads refused (a type Quill does not take, the EICAR test file) and one
quarantined by the virus scan; a new version; what billing staff may and may not open; an
administrator's delete with a reason and restore. Every page reached is checked with axe-core and
at 390 px (PageChecks)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from apps.documents.models import Document, ScanStatus
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.clamd import EICAR, QUILL_TEST_MALWARE, QUILL_TEST_MALWARE_SIGNATURE
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NOT_ACCEPTED = "Quill accepts PDF documents, JPEG, PNG and TIFF images, and DICOM files."


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    """Real files on disk for the live server; a fast password hasher (argon2 costs ~1 s per user)."""
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _file(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def _pdf_carrying_test_malware() -> bytes:
    """A valid PDF with the test signature in a comment: it passes upload checks, and only clamd can tell."""
    head, _, tail = samples.pdf(1, title="Referral").rpartition(b"trailer")
    return head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def _sign_out(page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def test_refused_uploads_store_nothing_and_a_virus_goes_to_quarantine(live_server, page, scanning_worker):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    administrator = factories.make_user(organisation, ["administrator"], totp=True, full_name="Ann Admin")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    sign_in(page, live_server, clinician)
    checks = PageChecks(page)
    upload_page = f"{live_server.url}/documents/patient/{patient.pk}/upload/"

    page.goto(upload_page)
    expect(page.get_by_role("heading", name="Upload a document for Grace Hopper")).to_be_visible()
    checks("upload-page")

    # the EICAR test file, a text file and a program named .pdf: each refused, with the reason
    for name, data, mime in (
        ("eicar.com", EICAR, "application/octet-stream"),
        ("notes.txt", b"Patient seen today; knee improving.\n", "text/plain"),
        ("scan.pdf", samples.windows_executable(), "application/pdf"),
    ):
        page.goto(upload_page)
        page.get_by_label("Category").select_option("referral")
        page.locator("#upload-file").set_input_files([_file(name, data, mime)])
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("[data-refusal]")).to_contain_text(NOT_ACCEPTED)
        expect(page.locator("[data-refusal]")).to_have_attribute("data-refusal", "unsupported_type")
    checks("upload-refused")
    assert not Document.objects.exists()

    # a PDF that carries a virus is stored, scanned by clamd and quarantined: never served
    page.goto(upload_page)
    page.get_by_label("Category").select_option("referral")
    page.get_by_label("Title").fill("Referral from the walk-in centre")
    page.locator("#upload-file").set_input_files(
        [_file("referral.pdf", _pdf_carrying_test_malware(), "application/pdf")]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("“Referral from the walk-in centre” was uploaded.")).to_be_visible()
    document = Document.objects.get(patient=patient)
    _wait_for(lambda: Document.objects.get(pk=document.pk).scan_status != ScanStatus.PENDING)
    document.refresh_from_db()
    assert (document.scan_status, document.scan_signature) == (ScanStatus.INFECTED, QUILL_TEST_MALWARE_SIGNATURE)
    response = page.goto(f"{live_server.url}/api/documents/{document.pk}/content")
    assert response is not None and response.status == 409

    # the administrators' quarantine list names it, who uploaded it, and the signature found
    page.goto(f"{live_server.url}/patients/")
    _sign_out(page)
    sign_in(page, live_server, administrator)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quarantine").click()
    row = page.locator("table tbody tr").filter(has_text="Referral from the walk-in centre")
    expect(row).to_contain_text(QUILL_TEST_MALWARE_SIGNATURE)
    expect(row).to_contain_text("Dr Ada Lovelace")
    checks("quarantine")
    checks.assert_none()


def test_a_new_version_refused_then_stored_keeps_the_old_one(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    first = stored_document(
        user=clinician, patient=patient, data=samples.pdf(2), title="Discharge summary", category="clinical-note"
    )
    sign_in(page, live_server, clinician)
    checks = PageChecks(page)
    page.goto(f"{live_server.url}/documents/{first.pk}/")
    checks("document")

    # a file Quill does not take is refused; the document is unchanged
    page.locator("#version-file").set_input_files([_file("summary.docx", b"PK\x03\x04 not a pdf", "application/zip")])
    page.get_by_role("button", name="Upload new version").click()
    expect(page.get_by_text("The new version was not stored:")).to_contain_text(NOT_ACCEPTED)
    checks("new-version-refused")
    assert Document.objects.filter(patient=patient).count() == 1

    # a PDF becomes version 2 with its own title and date; version 1 stays as it was
    page.locator("#version-file").set_input_files([_file("summary-v2.pdf", samples.pdf(1), "application/pdf")])
    page.get_by_label("Title").fill("Discharge summary (corrected)")
    page.get_by_label("Clinical date").fill("2026-11-06")
    page.get_by_role("button", name="Upload new version").click()
    expect(page.get_by_text("Version 2 was uploaded; version 1 is kept.")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Discharge summary \\(corrected\\)"))).to_be_visible()
    expect(page.locator("table.versions tbody tr")).to_have_count(2)
    checks("new-version")
    second = Document.objects.get(patient=patient, version_number=2)
    assert (second.supersedes_id, str(second.document_date)) == (first.pk, "2026-11-06")

    page.locator("table.versions").get_by_role("link", name="Version 1", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Discharge summary"))).to_be_visible()
    expect(page.get_by_role("button", name="Upload new version")).to_have_count(0)
    checks("old-version")
    first.refresh_from_db()
    assert first.title == "Discharge summary" and not first.is_current
    checks.assert_none()


def test_billing_opens_insurance_documents_only(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    billing = factories.make_user(organisation, ["billing"], totp=True, full_name="Priya Castellane")
    patient = factories.make_patient(organisation, given_name="Alan", family_name="Turing")
    lab = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Blood results", category="lab")
    claim = stored_document(
        user=clinician, patient=patient, data=samples.pdf(1), title="Claim form", category="insurance"
    )
    sign_in(page, live_server, billing)
    checks = PageChecks(page)

    # the claim opens
    page.goto(f"{live_server.url}/documents/{claim.pk}/")
    expect(page.get_by_role("heading", name=re.compile("Claim form"))).to_be_visible()
    checks("billing-insurance-document")

    # a clinical document answers 403 with a page that says why
    response = page.goto(f"{live_server.url}/documents/{lab.pk}/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Your role allows only insurance documents.")
    checks("billing-refused-document")
    response = page.goto(f"{live_server.url}/api/documents/{lab.pk}/content")
    assert response is not None and response.status == 403

    # billing registers no patients either
    response = page.goto(f"{live_server.url}/patients/new/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("Only clinical staff can register patients.")
    checks("billing-refused-register")
    checks.assert_none()


def test_an_administrator_deletes_with_a_reason_and_restores(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    administrator = factories.make_user(organisation, ["administrator"], totp=True, full_name="Ann Admin")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    wrong = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Someone else's letter")
    sign_in(page, live_server, administrator)
    checks = PageChecks(page)

    page.goto(f"{live_server.url}/documents/{wrong.pk}/")
    page.get_by_text("Delete this document").click()
    page.get_by_label("Reason for deleting").fill("Filed to the wrong patient")
    checks("document-delete-form")
    page.get_by_role("button", name="Delete document").click()
    expect(page.get_by_text("“Someone else's letter” was deleted.")).to_be_visible()
    wrong.refresh_from_db()
    assert wrong.deleted_at is not None and wrong.deleted_reason == "Filed to the wrong patient"

    # the patient's list no longer shows it
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.locator("#documents")).not_to_contain_text("Someone else's letter")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deleted").click()
    row = page.locator("table tbody tr").filter(has_text="Someone else's letter")
    expect(row).to_contain_text("Filed to the wrong patient")
    expect(row).to_contain_text("Ann Admin")
    checks("deleted")
    row.get_by_role("link", name="Someone else's letter").click()
    expect(page.get_by_role("status").filter(has_text="This document was deleted")).to_contain_text(
        "Filed to the wrong patient"
    )
    checks("deleted-document")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deleted").click()
    page.get_by_role("button", name="Restore Someone else's letter").click()
    expect(page.get_by_text("“Someone else's letter” was restored.")).to_be_visible()
    expect(page.get_by_text("No deleted documents.")).to_be_visible()
    checks("restored")
    wrong.refresh_from_db()
    assert wrong.deleted_at is None
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.locator("#documents")).to_contain_text("Someone else's letter")
    checks.assert_none()
