"""Patient, title and date suggestions: NHS number (mod-11) first, else date of birth with family name."""

from __future__ import annotations

from datetime import date

import pytest

from apps.inbox.models import InboxItem, MailMessage
from apps.inbox.services.suggestions import find_dates, find_nhs_numbers, inbox_suggest
from tests import factories
from tests.inbox.helpers import make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation, nhs_number="9434765919", given_name="Ellis", family_name="Marwood", date_of_birth=date(1970, 3, 1)
    )


def _item(organisation, *, filename="scan.pdf", hints=None, mail=None) -> InboxItem:
    return InboxItem(
        organisation=organisation, source=make_source(organisation), original_filename=filename,
        hints=hints or {}, mail_message=mail,
    )  # fmt: skip


def test_nhs_numbers_are_found_spaced_dashed_or_run_together_and_checked():
    text = "NHS No: 943 476 5919, also 943-476-5870 and 9434765846; not 9434765918 nor 12345678901"
    assert find_nhs_numbers(text) == ["9434765919", "9434765870", "9434765846"]


def test_dates_are_read_day_first_iso_and_with_month_names():
    text = "DOB 01/03/1970. Seen 2026-11-30. Clinic on 4th December 2026. Not 31/02/2020."
    assert find_dates(text) == [date(1970, 3, 1), date(2026, 11, 30), date(2026, 12, 4)]


def test_nhs_number_and_birth_date_in_the_text_suggest_the_patient_with_evidence(organisation, ellis):
    pages = ["Outpatient letter\nRe: Ellis Marwood  DOB 01/03/1970\nNHS number 943 476 5919\nSeen on 30/11/2026"]
    suggestions = inbox_suggest(item=_item(organisation), pages=pages)
    [best] = suggestions["patients"]
    assert best["patient_id"] == str(ellis.pk) and best["basis"] == "nhs_number"
    assert best["evidence"] == ["NHS number 943 476 5919 on page 1", "date of birth 01/03/1970 on page 1"]
    assert best["confidence"] == 0.99 and best["auto_file"] is True
    assert suggestions["title"] == "Outpatient letter"
    assert suggestions["document_date"] == "2026-11-30"


def test_nhs_number_without_the_birth_date_is_suggested_but_never_auto_filed(organisation, ellis):
    [best] = inbox_suggest(item=_item(organisation), pages=["NHS 9434765919"])["patients"]
    assert best["patient_id"] == str(ellis.pk) and best["auto_file"] is False and best["confidence"] < 0.99


def test_birth_date_and_family_name_suggest_when_no_nhs_number(organisation, ellis):
    factories.make_patient(organisation, family_name="Other", date_of_birth=date(1970, 3, 1))
    [best] = inbox_suggest(item=_item(organisation), pages=["Dear Dr, re Ellis Marwood born 1 March 1970"])["patients"]
    assert best["patient_id"] == str(ellis.pk) and best["basis"] == "birth_date_and_name"
    assert "family name Marwood on page 1" in best["evidence"] and best["auto_file"] is False


def test_nhs_number_in_the_filename_or_email_subject_or_hints_counts(organisation, ellis):
    for item in (
        _item(organisation, filename="943 476 5919 letter.pdf"),
        _item(organisation, mail=MailMessage(subject="Results for NHS 9434765919")),
        _item(organisation, hints={"nhs_number": "9434765919", "date_of_birth": "1970-03-01"}),
    ):
        [best] = inbox_suggest(item=item, pages=[])["patients"]
        assert best["patient_id"] == str(ellis.pk)
    assert inbox_suggest(item=_item(organisation, filename="943 476 5919.pdf"), pages=[])["patients"][0][
        "evidence"
    ] == ["NHS number 943 476 5919 on the filename"]


def test_another_organisations_patient_is_never_suggested(other_organisation, ellis):
    assert inbox_suggest(item=_item(other_organisation), pages=["NHS 943 476 5919 DOB 01/03/1970"])["patients"] == []


def test_two_patients_found_are_both_shown_and_neither_auto_filed(organisation, ellis):
    factories.make_patient(organisation, nhs_number="9434765870", date_of_birth=date(1980, 1, 1))
    patients = inbox_suggest(item=_item(organisation), pages=["9434765919 01/03/1970 and 9434765870 01/01/1980"])[
        "patients"
    ]
    assert len(patients) == 2 and not any(p["auto_file"] for p in patients)


def test_a_double_barrelled_family_name_is_matched_with_the_birth_date(organisation):
    patient = factories.make_patient(
        organisation, given_name="Noor", family_name="Fenwick-Lane", date_of_birth=date(1961, 7, 9)
    )
    [best] = inbox_suggest(item=_item(organisation), pages=["Re: Noor Fenwick-Lane  DOB 09/07/1961"])["patients"]
    assert best["patient_id"] == str(patient.pk) and best["basis"] == "birth_date_and_name"


def test_ocr_letter_for_digit_confusions_are_undone_in_numbers_only():
    from apps.inbox.services.suggestions import ocr_digits

    assert ocr_digits("NHS 943 47S 59l9, DOB O1/03/197O") == "NHS 943 475 5919, DOB 01/03/1970"
    assert ocr_digits("Seen by Dr Solo on 1,2 May") == "Seen by Dr Solo on 12 May"
    assert ocr_digits("Blood pressure SOB") == "Blood pressure SOB"  # no digit: a word


def test_an_ocr_confused_nhs_number_still_suggests_the_patient(organisation, ellis):
    [best] = inbox_suggest(item=_item(organisation), pages=["NHS number 943 476 59l9 DOB O1/03/1970"])["patients"]
    assert best["patient_id"] == str(ellis.pk) and best["evidence"][0] == "NHS number 943 476 5919 on page 1"
