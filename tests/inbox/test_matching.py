"""Name + date-of-birth suggestions read through OCR noise, and the look-alikes they must not match."""

from __future__ import annotations

from datetime import date

import pytest

from apps.inbox.models import InboxItem, InboxSettings
from apps.inbox.services.autofiling import auto_file_patient
from apps.inbox.services.matching import find_dates_tolerant, name_key
from apps.inbox.services.suggestions import find_dates, inbox_suggest
from tests import factories
from tests.inbox.helpers import make_source

pytestmark = pytest.mark.django_db

BORN = date(1970, 3, 12)


@pytest.fixture
def selwood(organisation):
    return factories.make_patient(organisation, given_name="Ellis", family_name="Selwood", date_of_birth=BORN)


def _patients(organisation, text: str) -> list[dict]:
    item = InboxItem(organisation=organisation, source=make_source(organisation), original_filename="scan.pdf")
    return inbox_suggest(item=item, pages=[text])["patients"]


@pytest.mark.parametrize(
    ("read", "written"),
    [
        ("Sclwood", "Selwood"),  # e read as c
        ("Tarnsett", "Tamsett"),  # m read as rn
        ("Ho1loway", "Holloway"),  # l read as 1
        ("0duya", "Oduya"),  # O read as 0
        ("Mistry", "M1stry"),  # i read as 1
        ("Pel.low", "Pellow"),  # a stray mark
        ("Fenwick Lane", "Fenwick-Lane"),  # the hyphen lost
    ],
)
def test_ocr_confusions_read_the_same(read, written):
    assert name_key(read) == name_key(written)


@pytest.mark.parametrize(
    ("read", "written"),
    [("Vaner", "Vane"), ("Hall", "Hill"), ("Marwoodson", "Marwood"), ("Pellow", "Bellow"), ("Lisle", "Lisle-Lane")],
)
def test_other_differences_are_not_forgiven(read, written):
    assert name_key(read) != name_key(written)


@pytest.mark.parametrize(
    "text",
    [
        "DOB l2/O3/197O",  # letters for digits
        "DOB 12/0,3/1970",  # a stray comma
        "DOB 1.2/03/19.70",  # stray full stops inside the numbers
        "DOB12/03/1970",  # the space dropped
        "DOBl2/03/1970",  # ... and a letter for the first digit
        "born 12th Marc.h 1970",  # a stray mark in the month
        "born 12 Rnarch 1970",  # M read as Rn
    ],
)
def test_dates_are_read_through_stray_marks_and_confusions(text):
    assert find_dates_tolerant(text) == [BORN]


def test_a_misread_first_digit_never_makes_another_day():
    """ "l2/03/1970" is the 12th read through OCR, never the 2nd, however it is read."""
    assert find_dates("DOB l2/03/1970 or l2 March 1970") == []  # the exact reading (automatic filing's) gives none
    assert find_dates_tolerant("DOB l2/03/1970 or l2 March 1970") == [BORN]
    assert find_dates("DOB1/3/1970") == [] and find_dates("DOB 1/3/1970") == [date(1970, 3, 1)]


def test_numbers_that_are_not_dates_stay_so():
    assert find_dates_tolerant("Blood pressure 132/84, pulse 72. Hospital number 4471 2209. 1.2.3.4") == []
    assert find_dates_tolerant("Seen 31/02/2026 and 12/03/0197") == []  # no such day; no such year


@pytest.mark.parametrize(
    "line",
    [
        "Re: Ellis Sclwood   DOB 12/O3/1970",
        "Re: EllisSelwood   DOB 12/03/1970",  # the space between the names dropped
        "Re: Ellis Sel,wood DOB 1,2/03/1970",
        "Re: Ellis Selwood DOBl2/03/l970",
    ],
)
def test_an_ocr_noisy_name_and_birth_date_suggest_the_patient(organisation, selwood, line):
    [best] = _patients(organisation, f"Outpatient letter\nDear Dr Consultant,\n{line}\nSeen in clinic.")
    assert best["patient_id"] == str(selwood.pk) and best["basis"] == "birth_date_and_name"
    assert best["auto_file"] is False
    assert "date of birth 12/03/1970 on page 1" in best["evidence"]


def test_the_evidence_says_how_a_name_was_read(organisation, selwood):
    [best] = _patients(organisation, "Re: Ellis Sclwood DOB 12/03/1970")
    assert 'family name Selwood on page 1, read as "Sclwood"' in best["evidence"]
    assert best["confidence"] < 0.9  # read through OCR's confusions: below an exact reading


def test_a_patient_born_a_day_later_with_the_same_name_is_not_suggested(organisation, selwood):
    factories.make_patient(organisation, given_name="Sam", family_name="Selwood", date_of_birth=date(1970, 3, 13))
    patients = _patients(organisation, "Re: Ellis Sclwood  DOB l2/O3/1970")
    assert [p["patient_id"] for p in patients] == [str(selwood.pk)]


def test_a_namesake_inside_a_longer_name_is_not_suggested(organisation):
    marwoodson = factories.make_patient(organisation, family_name="Marwoodson", date_of_birth=BORN)
    factories.make_patient(organisation, given_name="Sam", family_name="Marwood", date_of_birth=BORN)
    assert [p["patient_id"] for p in _patients(organisation, "Re: Ellis Marwood.son DOB 12/03/1970")] == [
        str(marwoodson.pk)
    ]


def test_a_double_barrelled_name_hides_the_patient_with_its_first_half(organisation):
    lane = factories.make_patient(organisation, family_name="Lisle-Lane", date_of_birth=BORN)
    factories.make_patient(organisation, given_name="Sam", family_name="Lisle", date_of_birth=BORN)
    assert [p["patient_id"] for p in _patients(organisation, "Re: Noor Lisle-Lanc DOB 12/03/1970")] == [str(lane.pk)]


def test_a_name_one_letter_away_outside_ocrs_confusions_is_not_suggested(organisation):
    factories.make_patient(organisation, given_name="Sam", family_name="Vane", date_of_birth=BORN)
    assert _patients(organisation, "Re: Ellis Vaner DOB 12/03/1970") == []


def test_the_doctor_a_letter_is_addressed_to_is_not_the_patient(organisation):
    """Dear Dr Pellow: a patient Pellow born on the date is not suggested when the patient's own name is unreadable."""
    factories.make_patient(organisation, given_name="Sam", family_name="Pellow", date_of_birth=BORN)
    assert _patients(organisation, "Dear Dr Pellow,\nRe: Ellis S#lw%od  DOB 12/03/1970") == []


def test_the_name_on_the_birth_dates_line_outranks_a_namesake_elsewhere(organisation, selwood):
    factories.make_patient(organisation, given_name="Sam", family_name="Pellow", date_of_birth=BORN)
    patients = _patients(organisation, "Copy to Pellow ward\nRe: Ellis Sclwood  DOB 12/03/1970")
    assert patients[0]["patient_id"] == str(selwood.pk) and len(patients) == 2


def test_a_tolerant_reading_is_never_filed_automatically(organisation):
    """Auto-filing on, an NHS number printed, the birth date legible only through a stray mark: left for a person."""
    InboxSettings.objects.create(organisation=organisation, auto_file=True)
    patient = factories.make_patient(
        organisation, nhs_number="9434765919", given_name="Noor", family_name="Penhale", date_of_birth=BORN
    )
    source = make_source(organisation)
    for text, basis in (
        ("Re: Noor Penhale DOB 12/0.3/1970\nNHS number 943 476 5919", "nhs_number"),
        ("Re: Noor Penha1e DOB 12/03/1970", "birth_date_and_name"),
    ):
        item = InboxItem(organisation=organisation, source=source, original_filename="scan.pdf", text=text)
        item.suggestions = inbox_suggest(item=item, pages=[text])
        [best] = item.suggestions["patients"]
        assert best["patient_id"] == str(patient.pk) and best["basis"] == basis and best["auto_file"] is False
        assert auto_file_patient(item) is None
