import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from apps.letters.errors import FlatBuildError
from apps.letters.openehr.flat import (
    KEY_RECIPIENT,
    KEY_REPORT_ID,
    KEY_START_TIME,
    KEY_STATUS,
    KEY_SUBJECT,
    KEY_SYNOPSIS,
    LetterComposition,
    build_flat,
)
from apps.letters.openehr.template import load_letter_template, parse_template

LETTER_ID = uuid.UUID("0b6f3c1e-2a47-4d0c-9f0e-7d3b1c2a9e55")


@pytest.fixture
def letter():
    return LetterComposition(
        letter_id=LETTER_ID,
        patient_id="patient-1",
        subject="Knee pain follow-up",
        body="# Plan\nPhysiotherapy for six weeks.",
        recipient="Dr J Smith, GP, The Surgery",
        author_name="Dr A Patel",
        clinical_time=datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=1))),
    )


def test_every_key_is_admitted_by_the_template(letter):
    admitted = parse_template(load_letter_template()).flat_paths
    assert set(build_flat(letter)) <= admitted


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ctx/language", "en"),
        ("ctx/territory", "GB"),
        ("ctx/composer_name", "Dr A Patel"),
        ("ctx/time", "2024-05-01T09:30:00+01:00"),
        ("quill_letter/language|code", "en"),
        ("quill_letter/language|terminology", "ISO_639-1"),
        ("quill_letter/territory|code", "GB"),
        ("quill_letter/territory|terminology", "ISO_3166-1"),
        ("quill_letter/composer|name", "Dr A Patel"),
        ("quill_letter/category|code", "433"),
        ("quill_letter/category|value", "event"),
        ("quill_letter/category|terminology", "openehr"),
        (KEY_START_TIME, "2024-05-01T09:30:00+01:00"),
        ("quill_letter/context/setting|code", "238"),
        ("quill_letter/context/setting|value", "other care"),
        ("quill_letter/context/setting|terminology", "openehr"),
        (KEY_REPORT_ID, str(LETTER_ID)),
        (KEY_STATUS, "final"),
        (KEY_SUBJECT, "Knee pain follow-up"),
        (KEY_RECIPIENT, "Dr J Smith, GP, The Surgery"),
        (KEY_SYNOPSIS, "# Plan\nPhysiotherapy for six weeks."),
        ("quill_letter/clinical_synopsis/language|code", "en"),
        ("quill_letter/clinical_synopsis/language|terminology", "ISO_639-1"),
        ("quill_letter/clinical_synopsis/encoding|code", "UTF-8"),
        ("quill_letter/clinical_synopsis/encoding|terminology", "IANA_character-sets"),
    ],
)
def test_flat_value(letter, key, expected):
    assert build_flat(letter)[key] == expected


def test_flat_has_no_other_keys(letter):
    assert len(build_flat(letter)) == 25


def test_amendment_is_marked_amended(letter):
    flat = build_flat(replace(letter, amends_composition_uid="abc::quill-test::1"))
    assert flat[KEY_STATUS] == "amended"


def test_date_only_clinical_time_is_midnight_utc(letter):
    flat = build_flat(replace(letter, clinical_time=date(2024, 5, 1)))
    assert flat[KEY_START_TIME] == "2024-05-01T00:00:00+00:00"


def test_blank_recipient_is_left_out(letter):
    assert KEY_RECIPIENT not in build_flat(replace(letter, recipient="  "))


@pytest.mark.parametrize(
    "change",
    [
        {"subject": " "},
        {"body": ""},
        {"author_name": "\n"},
        {"language": "english"},
        {"territory": "gb"},
        {"clinical_time": datetime(2024, 5, 1, 9, 30)},
        {"letter_id": "not-a-uuid"},
    ],
    ids=["subject", "body", "author", "language", "territory", "naive-time", "letter-id"],
)
def test_invalid_letters_are_refused(letter, change):
    with pytest.raises(FlatBuildError) as excinfo:
        build_flat(replace(letter, **change))
    assert excinfo.value.error_code == "openehr_flat_invalid"


def test_aware_utc_time_is_kept(letter):
    flat = build_flat(replace(letter, clinical_time=datetime(2024, 5, 1, 8, 0, tzinfo=UTC)))
    assert flat["ctx/time"] == "2024-05-01T08:00:00+00:00"
