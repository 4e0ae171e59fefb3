"""The letter composer in Debian's Chromium: what a clinician types is what is saved."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from apps.documents.models import Document, ScanStatus
from apps.letters.models import Letter
from apps.letters.services import letter_create, letter_finalise
from tests import factories
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    """Letter PDFs on disk for the live server; a fast password hasher (argon2 costs ~1 s per user)."""
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _quiet_before_the_database_is_emptied(page):
    """A letter page's images load lazily; one still on its way when the test ends would be
    answered (and audited) while the audit table is being emptied, which then refuses the flush."""
    yield
    page.wait_for_load_state("networkidle")
    page.goto("about:blank")


def test_editing_a_draft_keeps_its_clinical_date(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    letter = letter_create(
        actor=clinician,
        patient=patient,
        recipient_name="Dr J Smith",
        subject="Knee pain follow-up",
        body="The knee is improving.",
        clinical_date=date(2024, 5, 1),
    )
    sign_in(page, live_server, clinician)

    page.goto(f"{live_server.url}/letters/{letter.pk}/edit/")
    clinical_date = page.get_by_label("Clinical date")
    expect(clinical_date).to_have_value("2024-05-01")
    screenshot("letter-edit")
    page.get_by_label("Subject").fill("Knee pain follow-up, six weeks")
    page.get_by_role("button", name="Save and preview").click()

    expect(page).to_have_url(f"{live_server.url}/letters/{letter.pk}/")
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    preview = page.get_by_role("img", name="Page 1 of 1 of the letter")
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("image => image.naturalWidth") == 1000
    screenshot("letter-preview")
    letter = Letter.objects.get(pk=letter.pk)
    assert (letter.subject, letter.clinical_date) == ("Knee pain follow-up, six weeks", date(2024, 5, 1))


def test_a_new_letter_starts_on_today_and_saves_a_chosen_date(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation)
    sign_in(page, live_server, clinician)

    page.goto(f"{live_server.url}/letters/patient/{patient.pk}/new/")
    clinical_date = page.get_by_label("Clinical date")
    assert date.fromisoformat(clinical_date.input_value())
    clinical_date.fill("2026-03-14")
    page.get_by_label("Subject").fill("Referral")
    page.get_by_role("button", name="Save draft").click()

    expect(page.get_by_text("Draft saved.")).to_be_visible()
    assert Letter.objects.get(patient=patient).clinical_date == date(2026, 3, 14)


def test_a_final_letters_pdf_points_to_amendment_instead_of_replacement(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation)
    draft = letter_create(
        actor=clinician,
        patient=patient,
        recipient_name="Dr J Smith",
        subject="Knee clinic",
        body="Seen in clinic today.",
        clinical_date=date(2024, 5, 1),
    )
    letter = letter_finalise(actor=clinician, letter=draft)
    Document.objects.filter(pk=letter.document_id).update(scan_status=ScanStatus.CLEAN)
    sign_in(page, live_server, clinician)

    page.goto(f"{live_server.url}/documents/{letter.document_id}/")

    lock = page.locator("[data-letter-lock]")
    expect(lock).to_contain_text("Amend letter")
    expect(page.get_by_role("link", name="Replace with a new version")).to_have_count(0)
    expect(page.get_by_role("radio", name="Marker")).to_have_count(0)
    expect(page.locator("[data-page-count]")).to_have_text("1")
    screenshot("letter-pdf-sealed", full_page=False)
    lock.get_by_role("link", name="open the letter").click()
    expect(page).to_have_url(f"{live_server.url}/letters/{letter.pk}/")
    expect(page.get_by_role("button", name="Amend letter")).to_be_visible()
    assert Document.objects.filter(patient=patient).count() == 1


def test_a_letter_from_draft_through_preview_and_finalising_to_an_amendment(live_server, page, screenshot):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    checks = PageChecks(page)
    previews: list[int] = []
    page.on("response", lambda answer: previews.append(answer.status) if "/pages/1.webp" in answer.url else None)
    sign_in(page, live_server, clinician)

    page.goto(f"{live_server.url}/letters/patient/{patient.pk}/new/")
    page.get_by_label("Recipient name").fill("Dr J Smith")
    page.get_by_label("Subject").fill("Fracture clinic review")
    page.get_by_label("Letter text").fill("# Plan\nCast off at **six weeks**.\n\n- Physiotherapy")
    page.get_by_role("button", name="Save and preview").click()
    preview = page.get_by_role("img", name="Page 1 of 1 of the letter")
    expect(preview).to_have_js_property("complete", True)
    checks("letter-draft-preview")
    page.reload()  # the browser keeps the page image and asks whether it changed
    expect(page.get_by_role("img", name="Page 1 of 1 of the letter")).to_have_js_property("complete", True)
    assert previews[:2] == [200, 304], previews

    page.get_by_role("link", name="Finalise…").click()
    checks("letter-finalise")
    page.get_by_label("I have checked this letter and it is ready to be finalised.").check()
    page.get_by_role("button", name="Finalise letter").click()
    expect(page.get_by_text("The letter is final.")).to_be_visible()
    letter = Letter.objects.get(patient=patient)
    assert letter.status == "final" and letter.signed_by_id == clinician.pk
    Document.objects.filter(pk=letter.document_id).update(scan_status=ScanStatus.CLEAN)  # no scanner here
    page.reload()
    expect(page.get_by_role("img", name="Page 1 of 1 of the letter")).to_have_js_property("complete", True)
    screenshot("final")

    page.get_by_role("button", name="Amend letter").click()
    expect(page).to_have_url(re.compile(r"/letters/[0-9a-f-]+/edit/$"))
    page.get_by_label("Letter text").fill("# Plan\nCast off at **five weeks**.\n\n- Physiotherapy")
    page.get_by_role("button", name="Save and finalise…").click()
    page.get_by_label("I have checked this letter and it is ready to be finalised.").check()
    page.get_by_role("button", name="Finalise letter").click()
    expect(page.get_by_text("The letter is final.")).to_be_visible()
    expect(page.get_by_text("Corrects")).to_be_visible()
    amendment = Letter.objects.get(patient=patient, amends=letter)
    assert amendment.document.supersedes_id == letter.document_id and amendment.document.version_number == 2
    Document.objects.filter(pk=amendment.document_id).update(scan_status=ScanStatus.CLEAN)

    page.goto(f"{live_server.url}/letters/{letter.pk}/")
    expect(page.get_by_role("status").filter(has_text="This letter has been corrected and replaced")).to_be_visible()
    expect(page.get_by_text("Superseded", exact=True)).to_be_visible()
    checks("letter-final-corrected")
    page.goto(f"{live_server.url}/documents/{amendment.document_id}/")
    versions = page.locator("table.versions")
    expect(versions).to_contain_text("2")
    expect(page.locator("[data-letter-lock]")).to_contain_text("Amend letter")
    page.wait_for_load_state("networkidle")  # the page images and thumbnails, each audited
    screenshot("amended-pdf")
    checks.assert_none()
