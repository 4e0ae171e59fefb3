"""Patients in Debian's Chromium: finding a patient every way a clinic writes them, registering and
editing one, a patient's photo, breaking the glass to a restricted record, and the record's access
report (filters, CSV). Every page reached is checked with axe-core and at 390 px (PageChecks)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.patients.models import Patient
from tests import factories
from tests.documents import samples
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ELLIS = "MARWOOD, Ellis"
JO = "MARWOOD, Jo"


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    """Photos on disk for the live server; a fast password hasher (argon2 costs ~1 s per user)."""
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# (field, what is typed, the names listed): each way the list and its help say a patient can be found.
SEARCHES = [
    ("Name or MRN", "Marwood", [ELLIS, JO]),
    ("Name or MRN", "marw", [ELLIS, JO]),
    ("Name or MRN", "Marwood, Ellis", [ELLIS]),
    ("Name or MRN", "ellis marwood", [ELLIS]),
    ("Name or MRN", "RC-0001", [ELLIS]),
    ("Name or MRN", "rc-0001", [ELLIS]),
    ("Name or MRN", "943 476 5919", [ELLIS]),
    ("Name or MRN", "9434765919", [ELLIS]),
    ("Name or MRN", "14 Mar 1958", [ELLIS]),
    ("NHS number", "943 476 5919", [ELLIS]),
    ("NHS number", "9434765919", [ELLIS]),
    ("Date of birth", "14 Mar 1958", [ELLIS]),
    ("Date of birth", "14 March 1958", [ELLIS]),
    ("Date of birth", "14/03/1958", [ELLIS]),
    ("Date of birth", "1958-03-14", [ELLIS]),
    ("Date of birth", "14-03-1958", [ELLIS]),
    ("Date of birth", "14.03.1958", [ELLIS]),
    ("Date of birth", "19580314", [ELLIS]),
]


def _search(page, live_server, field: str, text: str) -> None:
    page.goto(f"{live_server.url}/patients/")
    page.get_by_role("search", name="Find a patient").get_by_label(field).fill(text)
    page.get_by_role("button", name="Search").click()


def _listed(page) -> list[str]:
    return page.locator("table tbody td[data-label='Name'] a").all_inner_texts()


def test_a_clinician_finds_a_patient_every_way_the_clinic_writes_them(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    factories.make_patient(
        organisation,
        given_name="Ellis",
        family_name="Marwood",
        date_of_birth=date(1958, 3, 14),
        nhs_number=factories.VALID_NHS_NUMBERS[0],
        mrn="RC-0001",
    )
    factories.make_patient(organisation, given_name="Jo", family_name="Marwood", date_of_birth=date(1961, 7, 1))
    factories.make_patient(organisation, given_name="Sam", family_name="Ellison", date_of_birth=date(1990, 1, 2))
    factories.make_patient(factories.make_organisation("Other Clinic"), given_name="Ellis", family_name="Marwood")
    sign_in(page, live_server, clinician)
    checks = PageChecks(page)

    found = {}
    for field, text, _ in SEARCHES:
        _search(page, live_server, field, text)
        expect(page.get_by_role("status").filter(has_text="found")).to_be_visible()
        found[(field, text)] = _listed(page)
    assert found == {(field, text): names for field, text, names in SEARCHES}
    checks("patient-search-found")

    # nobody matches: the page says what else to try
    _search(page, live_server, "Name or MRN", "Zzyzx")
    expect(page.get_by_text("No patients match your search.")).to_be_visible()
    checks("patient-search-none")

    # a date that cannot be read is not searched as if it were empty (which would list everybody)
    _search(page, live_server, "Date of birth", "the fourteenth")
    expect(page.get_by_role("alert")).to_have_text("Enter the date of birth as 31/01/1980 or 1980-01-31.")
    expect(page.get_by_text("Nothing was searched")).to_be_visible()
    assert _listed(page) == []
    checks("patient-search-unreadable-date")
    checks.assert_none()


def test_a_clinician_registers_a_patient_then_corrects_the_record(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    sign_in(page, live_server, clinician)
    checks = PageChecks(page)

    page.get_by_role("link", name="Register a patient").first.click()
    expect(page.get_by_role("heading", name="Register a patient")).to_be_visible()
    checks("patient-register")

    # an NHS number with a wrong check digit is refused beside the field; nothing is stored
    page.get_by_label("Given name").fill("Saffron")
    page.get_by_label("Family name").fill("Okonkwo-Reyes")
    page.get_by_label("Date of birth").fill("2 Nov 1986")
    page.get_by_label("Sex").select_option(label="Female")
    page.get_by_label("NHS number").fill("943 476 5871")
    page.get_by_label("MRN").fill("RC-0002")
    page.get_by_role("button", name="Register patient").click()
    expect(page.locator(".field-error")).to_have_text(
        "This NHS number's check digit is wrong; please check it was typed correctly."
    )
    expect(page.get_by_label("NHS number")).to_have_attribute("aria-invalid", "true")
    checks("patient-register-refused")
    assert not Patient.objects.exists()

    page.get_by_label("NHS number").fill("943 476 5870")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_text("Saffron Okonkwo-Reyes has been registered.")).to_be_visible()
    patient = Patient.objects.get()
    assert (patient.nhs_number, patient.date_of_birth, patient.sex) == ("9434765870", date(1986, 11, 2), "female")
    checks("patient-registered")

    # the edit form shows what is stored, as the clinic writes it; a correction is saved
    page.get_by_role("link", name="Edit details").click()
    expect(page.get_by_label("Date of birth")).to_have_value("02/11/1986")
    expect(page.get_by_label("NHS number")).to_have_value("9434765870")
    checks("patient-edit")
    page.get_by_label("Family name").fill("Okonkwo Reyes")
    page.get_by_label("Date of birth").fill("1986-11-12")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The changes have been saved.")).to_be_visible()
    patient.refresh_from_db()
    assert (patient.family_name, patient.date_of_birth) == ("Okonkwo Reyes", date(1986, 11, 12))
    checks.assert_none()


def test_a_clinician_adds_a_patients_photo(live_server, page):
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    patient = factories.make_patient(organisation, given_name="Grace", family_name="Hopper")
    sign_in(page, live_server, clinician)
    checks = PageChecks(page)
    photo_page = f"{live_server.url}/documents/patient/{patient.pk}/photo/"

    page.goto(photo_page)
    expect(page.get_by_text("No photo yet.")).to_be_visible()
    checks("patient-photo-none")

    # a file that is not a picture is refused with the reason; no photo is kept
    page.get_by_label("Photo", exact=True).set_input_files(
        [{"name": "grace.jpg", "mimeType": "image/jpeg", "buffer": samples.pdf(1)}]
    )
    page.get_by_role("button", name="Save photo").click()
    expect(page.locator("[data-refusal]")).to_be_visible()
    checks("patient-photo-refused")
    patient.refresh_from_db()
    assert not patient.photo_key

    page.get_by_label("Photo", exact=True).set_input_files(
        [{"name": "grace.jpg", "mimeType": "image/jpeg", "buffer": samples.jpeg(1200, 900)}]
    )
    page.get_by_role("button", name="Save photo").click()
    expect(page.get_by_text("The photo was saved.")).to_be_visible()
    patient.refresh_from_db()
    assert patient.photo_key and patient.avatar_key

    page.goto(photo_page)
    photo = page.get_by_role("img", name="Current photo of Grace Hopper")
    expect(photo).to_have_js_property("complete", True)
    assert 0 < photo.evaluate("image => image.naturalWidth") <= 512
    checks("patient-photo")
    checks.assert_none()


def test_break_glass_then_the_managers_review_and_the_access_report(live_server, page):
    organisation = factories.make_organisation()
    colleague = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Sam Whitlock")
    administrator = factories.make_user(organisation, ["administrator"], totp=True, full_name="Morgan Telford")
    factories.make_patient(organisation, given_name="Robin", family_name="Quiet", restricted=True, mrn="RC-0009")
    sign_in(page, live_server, colleague)
    checks = PageChecks(page)

    # the list names the record but hides its details; opening it asks for a reason
    page.goto(f"{live_server.url}/patients/?q=Quiet")
    row = page.locator("table tbody tr").filter(has_text="QUIET, Robin")
    expect(row).to_contain_text("Details are hidden")
    row.get_by_role("link", name="QUIET, Robin").click()
    expect(page.get_by_role("heading", name="Open a restricted record")).to_be_visible()
    checks("break-glass")
    page.get_by_role("button", name="Break the glass and open the record").click()
    expect(page.locator(".field-error")).to_have_text(
        "Give the reason you need this record; it is recorded with your name."
    )
    checks("break-glass-no-reason")
    page.get_by_label("Why do you need this record now?").fill("Seen in the emergency department tonight")
    page.get_by_role("button", name="Break the glass and open the record").click()
    expect(page.get_by_text(re.compile(r"You have opened this restricted record until \d\d:\d\d"))).to_be_visible()
    expect(page.get_by_role("heading", name="Robin Quiet")).to_be_visible()
    checks("break-glass-opened")

    # an administrator reviews the opening and reads the record's access report
    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, live_server, administrator)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Break-glass log").click()
    opening = page.locator("table tbody tr").filter(has_text="Dr Sam Whitlock")
    expect(opening).to_contain_text("Seen in the emergency department tonight")
    checks("break-glass-log")
    opening.get_by_role("link", name="QUIET, Robin").click()
    expect(page.get_by_role("heading", name="Access report: Robin Quiet")).to_be_visible()
    report = page.locator("table tbody tr")
    expect(report.filter(has_text="Broke the glass")).to_contain_text("Seen in the emergency department tonight")
    checks("access-report")

    # filters: by person, then by kind of event; a backwards date range is refused
    page.get_by_label("Who").select_option(label="Dr Sam Whitlock")
    page.get_by_role("button", name="Filter").click()
    expect(report.locator("td[data-label='Who']")).to_have_text(["Dr Sam Whitlock"] * report.count())
    page.get_by_label("What").select_option(label="Broke the glass to open the restricted record")
    page.get_by_role("button", name="Filter").click()
    expect(report).to_have_count(1)
    checks("access-report-filtered")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export as CSV").click()
    exported = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert download_info.value.suggested_filename == "access-report-RC-0009.csv"
    assert exported[0] == ["When", "Who", "What", "About", "Outcome", "Details"]
    assert [row[1:] for row in exported[1:]] == [
        [
            "Dr Sam Whitlock",
            "Broke the glass to open the restricted record",
            "",
            "Allowed",
            "Reason: “Seen in the emergency department tonight”",
        ]
    ]

    page.get_by_label("From").fill("2026-12-07")
    page.get_by_label("To").fill("2026-12-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".field-error")).to_have_text("The end of the date range is before its start.")
    expect(page.get_by_text("Nothing was listed: correct the filters above and try again.")).to_be_visible()
    checks("access-report-refused-filters")
    checks.assert_none()
