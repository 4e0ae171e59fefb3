"""The patient banner: name, date of birth with age, gender, NHS number 3-3-4 and MRN on every patient page."""

from __future__ import annotations

from datetime import date

import pytest

from apps.letters.services import letter_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(1958, 3, 14), date(2026, 3, 13), "67 years"),
        (date(1958, 3, 14), date(2026, 3, 14), "68 years"),
        (date(2025, 1, 31), date(2026, 12, 7), "22 months"),
        (date(2026, 11, 7), date(2026, 12, 7), "1 month"),
        (date(2026, 11, 20), date(2026, 12, 7), "17 days"),
        (date(2026, 12, 6), date(2026, 12, 7), "1 day"),
    ],
)
def test_age_as_the_banner_shows_it(organisation, born, today, age):
    patient = factories.make_patient(organisation, date_of_birth=born)

    assert patient.age_on(today) == age


def test_every_patient_page_shows_the_banner(clinician, organisation):
    patient = factories.make_patient(
        organisation, given_name="Ellis", family_name="Marwood", date_of_birth=date(1958, 3, 14), mrn="MRN-4411"
    )
    letter = letter_create(actor=clinician, patient=patient, subject="Clinic letter")
    client = factories.signed_in_client(clinician)
    pages = [
        f"/patients/{patient.pk}/",
        f"/patients/{patient.pk}/edit/",
        f"/letters/patient/{patient.pk}/",
        f"/letters/patient/{patient.pk}/new/",
        f"/letters/{letter.pk}/",
        f"/letters/{letter.pk}/edit/",
        f"/documents/patient/{patient.pk}/photo/",
    ]
    for path in pages:
        page = client.get(path).content.decode()
        assert page.count('class="patient-banner"') == 1, path
        assert "MARWOOD, Ellis" in page and "14 Mar 1958 (" in page, path
        assert f"{patient.nhs_number[:3]} {patient.nhs_number[3:6]} {patient.nhs_number[6:]}" in page, path
        assert "MRN-4411" in page, path


def test_pages_without_one_patient_show_no_banner(clinician, patient):
    page = factories.signed_in_client(clinician).get("/patients/").content.decode()

    assert 'class="patient-banner"' not in page
