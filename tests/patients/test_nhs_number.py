"""NHS number validation: 10 digits, modulus-11 check digit, in plain words."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.patients.nhs_number import nhs_number_problem, normalise_nhs_number, validate_nhs_number
from tests.factories import VALID_NHS_NUMBERS


@pytest.mark.parametrize("number", VALID_NHS_NUMBERS, ids=VALID_NHS_NUMBERS)
def test_valid_numbers_pass(number):
    assert nhs_number_problem(number) is None
    validate_nhs_number(number)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("943 476 5919", "9434765919"), ("943-476-5919", "9434765919"), ("9434765919", "9434765919")],
    ids=["spaces", "hyphens", "plain"],
)
def test_grouped_numbers_are_valid_and_normalise(typed, expected):
    assert nhs_number_problem(typed) is None
    assert normalise_nhs_number(typed) == expected


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("9434765918", "check digit is wrong"),
        ("943476591", "exactly 10 digits; this one has 9"),
        ("94347659190", "exactly 10 digits; this one has 11"),
        ("94347A5919", "only digits"),
        ("", "only digits"),
        ("9434765030", "check digit"),  # this prefix gives check digit 10: never valid
    ],
    ids=["wrong-check-digit", "too-short", "too-long", "letters", "empty", "check-digit-ten"],
)
def test_invalid_numbers_are_refused_in_plain_words(number, words):
    problem = nhs_number_problem(number)

    assert problem is not None and words in problem
    with pytest.raises(ValidationError) as refused:
        validate_nhs_number(number)
    assert refused.value.code == "invalid_nhs_number"
