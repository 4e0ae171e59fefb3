"""NHS number validation: 10 digits, the last a modulus-11 check digit."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def nhs_number_problem(value: str) -> str | None:
    """Why `value` is not a valid NHS number, in plain words, or None when it is."""
    digits = value.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()):  # "²" is a digit to isdigit, not to int
        return "An NHS number contains only digits (spaces are allowed between groups)."
    if len(digits) != 10:
        return f"An NHS number has exactly 10 digits; this one has {len(digits)}."
    total = sum(int(digit) * weight for digit, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - (total % 11)
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        return "This NHS number's check digit is wrong; please check it was typed correctly."
    return None


def normalise_nhs_number(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


def validate_nhs_number(value: str) -> None:
    problem = nhs_number_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_nhs_number")
