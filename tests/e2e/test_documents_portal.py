"""The documents portal in a real browser: Debian's chromium via Playwright against the live server,
with filesystem storage, a real clamd and a real Celery worker on Redis (sharing the test database).

Screenshots of the main pages go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.services import document_soft_delete
from tests import factories
from tests.documents import samples
from tests.documents.helpers import document_row, stored_document
from tests.e2e.helpers import sign_in
from tests.services.browser import axe_problems
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCAN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    """Real files on disk for the live server; a fast password hasher (argon2 costs ~1 s per user)."""
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return tmp_path / "documents"


def _file(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def test_clinician_uploads_previews_annotates_and_replaces(live_server, page, screenshot, scanning_worker):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    sign_in(page, live_server, clinician)

    # the patient page starts empty and says what to do
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.get_by_text("No documents yet")).to_be_visible()
    screenshot("patient-empty")

    # three files at once: three progress bars, then three clean states
    pdf_bytes = samples.pdf(2, title="Discharge summary")
    upload = page.locator("[data-upload-form]")
    upload.get_by_label("Category").select_option("clinical-note")
    upload.locator("#upload-files").set_input_files(
        [
            _file("discharge.pdf", pdf_bytes, "application/pdf"),
            _file("wound.png", samples.png(800, 600), "image/png"),
            _file("rash.jpg", samples.jpeg(640, 480), "image/jpeg"),
        ]
    )
    expect(upload.locator("[data-chosen]")).to_contain_text("3 files chosen")
    upload.get_by_role("button", name="Upload").click()
    rows = upload.locator(".upload-row")
    expect(rows).to_have_count(3)
    expect(rows.locator("progress")).to_have_count(3)
    for name in ("discharge.pdf", "wound.png", "rash.jpg"):
        row = rows.filter(has_text=name)
        expect(row.locator(".upload-state")).to_have_text("Clean", timeout=SCAN_TIMEOUT_MS)
        expect(row.locator("progress")).to_have_js_property("value", 100)
    screenshot("upload-three-clean")

    # a bad file is refused with the server's message beside it
    upload.locator("#upload-files").set_input_files(
        [_file("invoice.pdf", samples.windows_executable(), "application/pdf")]
    )
    upload.get_by_role("button", name="Upload").click()
    refused = rows.filter(has_text="invoice.pdf")
    expect(refused.locator(".upload-error")).to_contain_text("Quill accepts PDF documents")
    expect(refused.locator(".upload-state")).to_have_text("Refused")
    screenshot("upload-refused")
    assert Document.objects.filter(patient=patient).count() == 3

    # the list shows all three with thumbnails once the worker has made them
    _wait_for(lambda: Document.objects.filter(patient=patient).exclude(thumbnail_key="").count() == 3)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.locator("table.documents-table tbody tr")).to_have_count(3)
    expect(page.locator("img.thumb")).to_have_count(3)
    _expect_images_loaded(page, "img.thumb")
    screenshot("patient-documents")

    # open an image: preview inline, add a marker and a text note
    page.get_by_role("link", name="wound").click()
    expect(page.get_by_role("heading", name=re.compile("wound"))).to_be_visible()
    _expect_images_loaded(page, "img.preview-image")
    overlay = page.locator("[data-overlay]")
    overlay.click(position={"x": 120, "y": 90})
    expect(page.locator("[data-annotation-list] li").filter(has_text="Marker on page 1")).to_have_count(1)
    expect(overlay.locator("g.annotation-marker")).to_have_count(1)
    page.get_by_label("Text note").check()
    page.get_by_label("Note text").fill("Check healing in 2 weeks")
    overlay.click(position={"x": 300, "y": 200})
    expect(page.locator("[data-annotation-list]")).to_contain_text("Check healing in 2 weeks")
    page.get_by_label("Highlight").check()
    box = overlay.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 220, steps=5)
    page.mouse.up()
    expect(overlay.locator("g.annotation-highlight")).to_have_count(1)
    page.reload()
    expect(page.locator("[data-overlay] g.annotation")).to_have_count(3)
    expect(page.locator("[data-overlay] .note")).to_have_text("Check healing in 2 weeks")
    screenshot("document-image-annotated")

    # open the PDF: its first page is drawn for annotation; the browser's viewer is one click away
    pdf_document = Document.objects.get(patient=patient, original_filename="discharge.pdf")
    page.goto(f"{live_server.url}/documents/{pdf_document.pk}/")
    _expect_images_loaded(page, "img.preview-image")
    expect(page.locator("[data-page-count]")).to_have_text("2")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("[data-page-number]")).to_have_value("2")
    page.get_by_text("Read in the browser's PDF viewer").click()
    expect(page.locator(".pdf-viewer iframe")).to_have_attribute("src", re.compile(r"content\?disposition=inline$"))
    # Chromium's own PDF viewer (an internal extension) runs in the frame: it cannot run in a sandboxed one
    for _ in range(50):
        if any(frame.url.startswith("chrome-extension://") for frame in page.frames):
            break
        page.wait_for_timeout(200)  # lets Playwright process frame events (time.sleep would not)
    assert any(frame.url.startswith("chrome-extension://") for frame in page.frames), [f.url for f in page.frames]
    page.wait_for_timeout(500)  # let the viewer paint before the screenshot
    screenshot("document-pdf")

    # replace it with a new version; the old version stays downloadable with its own bytes
    new_bytes = samples.pdf(1, title="Corrected discharge summary")
    page.locator("#version-file").set_input_files([_file("discharge-v2.pdf", new_bytes, "application/pdf")])
    page.get_by_role("button", name="Upload new version").click()
    expect(page.get_by_text("Version 2 was uploaded")).to_be_visible()
    versions = page.locator("table.versions tbody tr")
    expect(versions).to_have_count(2)
    with page.expect_download() as download_info:
        versions.filter(has_text="Version 1").get_by_role("link", name="Download version 1").click()
    downloaded = download_info.value
    assert hashlib.sha256(Path(downloaded.path()).read_bytes()).digest() == hashlib.sha256(pdf_bytes).digest()
    assert downloaded.suggested_filename == "discharge.pdf"
    screenshot("document-versions")

    # bulk upload: all or nothing, each file's outcome shown
    page.goto(f"{live_server.url}/documents/patient/{patient.pk}/bulk/")
    bulk = page.locator("[data-bulk-form]")
    bulk.get_by_label("Category").select_option("lab")
    bulk.locator("#bulk-files").set_input_files(
        [
            _file("fbc.pdf", samples.pdf(1), "application/pdf"),
            _file("lfts.pdf", samples.truncated_pdf(), "application/pdf"),
        ]
    )
    bulk.get_by_role("button", name="Upload all").click()
    expect(page.locator("[data-bulk-totals]")).to_have_text("0 stored, 1 refused, 2 in total. Nothing was stored.")
    expect(page.locator("[data-bulk-rows] tr")).to_have_count(2)
    screenshot("bulk-refused")
    assert not Document.objects.filter(patient=patient, category="lab").exists()


def test_billing_user_sees_only_insurance_documents(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    billing = factories.make_user(organisation, ["billing"], totp=True, full_name="Bill Ing")
    patient = factories.make_patient(organisation, given_name="Alan", family_name="Turing")
    stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Clinic letter", category="letter")
    lab = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Blood results", category="lab")
    stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Claim form", category="insurance")
    sign_in(page, live_server, billing)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    rows = page.locator("table.documents-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Claim form")
    expect(page.get_by_text("Clinic letter")).to_have_count(0)
    expect(page.locator("[data-upload-form] select[name=category] option:not([value=''])")).to_have_count(1)
    screenshot("billing-patient")
    page.goto(f"{live_server.url}/documents/{lab.pk}/")
    expect(page.get_by_text("Your role allows only insurance documents.")).to_be_visible()


def test_administrator_deleted_and_quarantine_views(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    administrator = factories.make_user(organisation, ["administrator"], totp=True, full_name="Ann Admin")
    patient = factories.make_patient(organisation)
    wrong = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Wrong patient's letter")
    document_soft_delete(actor=administrator, document=wrong, reason="Filed to the wrong patient")
    infected = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Scanned referral")
    Document.objects.filter(pk=infected.pk).update(scan_status=ScanStatus.INFECTED, scan_signature="Eicar-Signature")
    sign_in(page, live_server, administrator)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quarantine").click()
    expect(page.locator("table")).to_contain_text("Eicar-Signature")
    screenshot("quarantine")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deleted").click()
    expect(page.locator("table")).to_contain_text("Filed to the wrong patient")
    screenshot("deleted")
    page.get_by_role("button", name="Restore Wrong patient's letter").click()
    expect(page.get_by_text("was restored")).to_be_visible()
    wrong.refresh_from_db()
    assert wrong.deleted_at is None


def _expect_images_loaded(page, selector: str) -> None:
    page.wait_for_function(
        """selector => {
            const images = [...document.querySelectorAll(selector)];
            return images.length > 0 && images.every(image => image.complete && image.naturalWidth > 0);
        }""",
        arg=selector,
    )


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_an_incomplete_upload_says_what_to_fix(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation)
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    upload = page.locator("[data-upload-form]")

    # nothing chosen: a summary names both problems, and each field says its own
    upload.get_by_role("button", name="Upload").click()
    summary = upload.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        ["Choose a category for the files.", "Choose at least one file to upload."]
    )
    expect(upload.get_by_label("Category")).to_have_attribute("aria-invalid", "true")
    expect(upload.locator(".field-error")).to_have_count(2)
    screenshot("upload-incomplete")

    # a category chosen: only the file is missing
    upload.get_by_label("Category").select_option("lab")
    upload.get_by_role("button", name="Upload").click()
    expect(summary.get_by_role("link")).to_have_text(["Choose at least one file to upload."])
    expect(upload.locator(".field-error")).to_have_count(1)
    assert not Document.objects.exists()


# --- the patient page: each file's own details, the list refreshing itself, sorting and searching -----

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _both_widths(page, screenshot, name: str) -> None:
    """Screenshots at 1280×800 and 390×844; axe-core finds nothing at either, and the page must not
    scroll sideways on the phone (this state of the page, which test_every_page cannot reach)."""
    screenshot(f"{name}-desktop")
    assert axe_problems(page) == [], name
    page.set_viewport_size(PHONE)
    screenshot(f"{name}-phone")
    assert axe_problems(page) == [], name
    too_wide = page.evaluate(
        """width => [...document.querySelectorAll("body *")]
            .filter(node => node.getBoundingClientRect().right > width + 1)
            .map(node => node.tagName + "." + node.className).slice(0, 5)""",
        PHONE["width"],
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (name, too_wide)
    page.set_viewport_size(DESKTOP)


def test_several_files_each_with_its_own_details_appear_in_the_list_without_reloading(
    live_server, page, screenshot, scanning_worker
):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.evaluate("window.notReloaded = true")
    upload = page.locator("[data-upload-form]")

    # the shared values first, then three files: a row each, starting from them
    upload.locator("select[name=category]").select_option("lab")
    upload.locator("input[name=document_date]").fill("2025-01-10")
    upload.locator("#upload-files").set_input_files(
        [
            _file("discharge.pdf", samples.pdf(1), "application/pdf"),
            _file("wound.png", samples.png(80, 60), "image/png"),
            _file("fbc.pdf", samples.pdf(1), "application/pdf"),
        ]
    )
    rows = upload.locator("[data-file-details] tbody tr")
    expect(rows).to_have_count(3)
    expect(upload.get_by_label("Title for wound.png")).to_have_value("wound")
    expect(upload.get_by_label("Category for fbc.pdf")).to_have_value("lab")
    expect(upload.get_by_label("Clinical date for fbc.pdf")).to_have_value("2025-01-10")
    expect(upload.locator("input[name=title]")).to_be_hidden()  # each file has its own

    # each file's details changed before sending; the third keeps the shared ones
    upload.get_by_label("Title for discharge.pdf").fill("Discharge summary")
    upload.get_by_label("Category for discharge.pdf").select_option("clinical-note")
    upload.get_by_label("Clinical date for discharge.pdf").fill("2025-03-04")
    upload.get_by_label("Title for wound.png").fill("Wound photo")
    upload.get_by_label("Category for wound.png").select_option("photo")
    upload.get_by_label("Clinical date for wound.png").fill("2024-11-30")
    # a shared value changed now still reaches the rows that kept it, not the ones changed
    upload.locator("input[name=document_date]").fill("2025-01-11")
    expect(upload.get_by_label("Clinical date for fbc.pdf")).to_have_value("2025-01-11")
    expect(upload.get_by_label("Clinical date for wound.png")).to_have_value("2024-11-30")
    _both_widths(page, screenshot, "file-rows")

    upload.get_by_role("button", name="Upload", exact=True).click()

    # the list below fills in by itself, then shows the scans settle
    table = page.locator("[data-documents-list] table.documents-table")
    listed = table.locator("tbody tr")
    expect(listed).to_have_count(3, timeout=SCAN_TIMEOUT_MS)
    expect(listed.locator(".badge")).to_have_text(["Clean", "Clean", "Clean"], timeout=SCAN_TIMEOUT_MS)
    expect(listed.nth(0)).to_contain_text("Discharge summary")
    expect(listed.nth(0)).to_contain_text("Clinical note")
    expect(listed.nth(0)).to_contain_text("4 Mar 2025")
    expect(listed.nth(1)).to_contain_text("fbc")
    expect(listed.nth(1)).to_contain_text("Lab report")
    expect(listed.nth(1)).to_contain_text("11 Jan 2025")
    expect(listed.nth(2)).to_contain_text("Wound photo")
    expect(listed.nth(2)).to_contain_text("Photograph")
    expect(listed.nth(2)).to_contain_text("30 Nov 2024")
    expect(page.locator("[data-list-status]")).to_have_text("The documents list has been updated.")
    assert page.evaluate("window.notReloaded") is True
    stored = {d.title: (d.category, d.document_date.isoformat()) for d in Document.objects.filter(patient=patient)}
    assert stored == {
        "Discharge summary": ("clinical-note", "2025-03-04"),
        "Wound photo": ("photo", "2024-11-30"),
        "fbc": ("lab", "2025-01-11"),
    }
    _both_widths(page, screenshot, "list-refreshed")


def test_each_files_problems_are_summarised_and_a_refused_batch_keeps_its_rows(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation)
    sign_in(page, live_server, clinician)

    # patient page: a file left without a category is named in the summary and beside its field
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    upload = page.locator("[data-upload-form]")
    upload.locator("#upload-files").set_input_files(
        [_file("a.pdf", samples.pdf(1), "application/pdf"), _file("b.pdf", samples.pdf(1), "application/pdf")]
    )
    upload.get_by_label("Category for a.pdf").select_option("lab")
    upload.get_by_role("button", name="Upload", exact=True).click()
    summary = upload.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(["Choose a category for b.pdf."])
    expect(upload.get_by_label("Category for b.pdf")).to_have_attribute("aria-invalid", "true")
    summary.get_by_role("link").click()
    expect(upload.get_by_label("Category for b.pdf")).to_be_focused()
    screenshot("row-problem")
    assert not Document.objects.exists()

    # bulk page: one bad file refuses the batch; its row says why and the others stay to send again
    page.goto(f"{live_server.url}/documents/patient/{patient.pk}/bulk/")
    bulk = page.locator("[data-bulk-form]")
    bulk.locator("select[name=category]").select_option("referral")
    bulk.locator("#bulk-files").set_input_files(
        [
            _file("letter.pdf", samples.pdf(1), "application/pdf"),
            _file("broken.pdf", samples.truncated_pdf(), "application/pdf"),
            _file("scan.png", samples.png(30, 30), "image/png"),
        ]
    )
    bulk.get_by_label("Title for letter.pdf").fill("GP referral letter")
    bulk.get_by_label("Category for scan.png").select_option("imaging")
    bulk.get_by_label("Clinical date for scan.png").fill("2025-02-01")
    bulk.get_by_role("button", name="Upload all").click()
    expect(page.locator("[data-bulk-totals]")).to_have_text("0 stored, 1 refused, 3 in total. Nothing was stored.")
    summary = bulk.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_contain_text(["broken.pdf: "])
    broken = bulk.locator("[data-file-details] tbody tr").filter(has_text="broken.pdf")
    expect(broken.locator(".field-error")).to_be_visible()
    _both_widths(page, screenshot, "bulk-row-refused")
    assert not Document.objects.exists()

    broken.get_by_role("button", name="Remove broken.pdf").click()
    expect(bulk.locator("[data-file-details] tbody tr")).to_have_count(2)
    bulk.get_by_role("button", name="Upload all").click()
    expect(page.locator("[data-bulk-totals]")).to_have_text("2 stored, 0 refused, 2 in total.")
    expect(bulk.locator("[data-error-summary]")).to_have_count(0)
    stored = {d.title: (d.category, d.document_date.isoformat()) for d in Document.objects.filter(patient=patient)}
    assert stored["GP referral letter"][0] == "referral"
    assert stored["scan"] == ("imaging", "2025-02-01")


def test_the_list_sorts_by_each_column_both_ways_and_finds_titles(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation, given_name="Ellis", family_name="Marwood")
    document_row(patient, clinician, title="beta scan", category="imaging", document_date=date(2025, 1, 2))
    document_row(patient, clinician, title="Alpha letter", category="letter", document_date=date(2024, 5, 1))
    document_row(patient, clinician, title="gamma consent", category="consent", document_date=date(2025, 6, 1))
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    titles = page.locator("table.documents-table tbody td[data-label=Title] a")
    expect(titles).to_have_text(["gamma consent", "beta scan", "Alpha letter"])  # newest first

    # each heading's first click gives its first order (A to Z; newest first for the date), the next the other
    a_to_z = ["Alpha letter", "beta scan", "gamma consent"]
    by_category = ["gamma consent", "beta scan", "Alpha letter"]  # Consent form, Imaging, Letter
    for heading, aria_sort, expected in (
        ("Title", "ascending", a_to_z),
        ("Title", "descending", a_to_z[::-1]),
        ("Category", "ascending", by_category),
        ("Category", "descending", by_category[::-1]),
        ("Clinical date", "descending", ["gamma consent", "beta scan", "Alpha letter"]),
        ("Clinical date", "ascending", ["Alpha letter", "beta scan", "gamma consent"]),
    ):
        column = page.locator("table.documents-table thead th").filter(has_text=heading)
        column.get_by_role("link").click()
        expect(column).to_have_attribute("aria-sort", aria_sort)
        expect(titles).to_have_text(expected)
        expect(page.locator("table.documents-table thead th[aria-sort]")).to_have_count(1)
    screenshot("sorted-by-date-oldest")

    # the title search keeps the order chosen, and so does the pager's and filters' every link
    page.get_by_label("Title contains").fill("SCAN")
    page.get_by_role("button", name="Filter").click()
    expect(titles).to_have_text(["beta scan"])
    expect(page.get_by_label("Sort by")).to_have_value("date")
    page.get_by_label("Title contains").fill("a")
    page.get_by_label("Sort by").select_option("-title")
    page.get_by_role("button", name="Filter").click()
    expect(titles).to_have_text(["gamma consent", "beta scan", "Alpha letter"])
    _both_widths(page, screenshot, "title-search")
    page.get_by_role("link", name="Clear", exact=True).click()
    expect(page.get_by_label("Sort by")).to_have_value("-title")
    expect(page.get_by_label("Title contains")).to_have_value("")


def test_a_document_being_scanned_updates_in_the_list_by_itself(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation)
    waiting = document_row(patient, clinician, title="Referral", scan_status=ScanStatus.PENDING)
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/patients/{patient.pk}/?sort=title")
    page.evaluate("window.notReloaded = true")
    status = page.locator("[data-list-status]")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text("still being checked for viruses")
    badge = page.locator("table.documents-table tbody tr").filter(has_text="Referral").locator(".badge")
    expect(badge).to_have_text("Waiting for virus scan")

    Document.objects.filter(pk=waiting.pk).update(scan_status=ScanStatus.CLEAN)

    expect(badge).to_have_text("Clean", timeout=20_000)
    expect(status).to_have_text("The documents list has been updated.")
    assert page.evaluate("window.notReloaded") is True
    listings = AuditEvent.objects.filter(action="document.listed", details__channel="portal-refresh")
    assert listings.count() == 1  # polls that found nothing new were not recorded
