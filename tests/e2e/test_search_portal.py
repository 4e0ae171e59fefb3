"""Searching documents' text in Debian's Chromium: from the patient page and organisation-wide, opening a
hit at its page with the words highlighted, as a clinician and as billing (who finds only insurance).

Documents are typed PDFs stored through the upload service, marked clean and read by the text task
(no OCR here: tests/documents/test_text_extraction.py covers scans). Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.documents.services.text import document_extract_text
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import stored_document
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic():
    organisation = factories.make_organisation("Riverside Clinic")
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    billing = factories.make_user(organisation, ["billing"], totp=True, full_name="Sam Ledger")
    patient = factories.make_patient(organisation, given_name="Ellis", family_name="Marwood")
    letter = stored_document(
        user=clinician,
        patient=patient,
        data=text_samples.text_pdf(
            ["Anticoagulation clinic letter", "Plan: continue warfarin 5 mg daily.\nINR target 2.5"]
        ),
        title="Anticoagulation clinic letter",
        category="letter",
    )
    claim = stored_document(
        user=clinician,
        patient=patient,
        data=text_samples.text_pdf(["Insurance claim for warfarin monitoring"]),
        title="Insurance claim",
        category="insurance",
    )
    for document in (letter, claim):
        assert document_extract_text(document_id=document.pk) == "done"
    return {"clinician": clinician, "billing": billing, "patient": patient, "letter": letter, "claim": claim}


def test_a_clinician_searches_from_the_patient_page_and_opens_the_hit_at_its_page(page, live_server, clinic):
    checks = PageChecks(page)
    sign_in(page, live_server, clinic["clinician"])
    page.goto(f"{live_server.url}/patients/{clinic['patient'].pk}/")
    page.get_by_label("Search the text of these documents").fill("warfarin")
    page.get_by_role("button", name="Search", exact=True).first.click()
    expect(page.get_by_role("heading", name="Search Ellis", exact=False)).to_be_visible()
    expect(page.locator("[data-search-count]")).to_have_text("2 documents found.")
    result = page.locator(".search-result").filter(has_text="Anticoagulation clinic letter")
    expect(result.locator("mark").first).to_have_text("warfarin")
    expect(result).to_contain_text("page 2")
    checks("search-patient")
    result.get_by_role("link", name="Anticoagulation clinic letter").click()
    # the viewer opens at page 2 with the word's box drawn on the page
    expect(page.locator("[data-page-number]")).to_have_value("2")
    expect(page.locator("rect.search-hit")).to_have_count(1)
    expect(page.locator("[data-annotate-status]")).to_contain_text("highlighted on page 2")
    checks("search-hit-in-viewer")
    checks.assert_none()


def test_billing_searches_the_organisation_and_finds_only_insurance(page, live_server, clinic):
    checks = PageChecks(page)
    sign_in(page, live_server, clinic["billing"])
    page.get_by_role("link", name="Search documents").click()
    page.get_by_label("Search the text of documents").fill("warfarin")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("[data-search-count]")).to_have_text("1 document found.")
    expect(page.locator(".search-result")).to_have_count(1)
    expect(page.locator(".search-result")).to_contain_text("Insurance claim")
    expect(page.locator(".search-result")).to_contain_text("Marwood")
    expect(page.get_by_text("Anticoagulation clinic letter")).to_have_count(0)
    checks("search-organisation-billing")
    page.get_by_role("link", name="Insurance claim").click()
    expect(page.locator("rect.search-hit")).to_have_count(1)
    checks.assert_none()
