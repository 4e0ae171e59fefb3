"""Typed refusals for letters; the API and portal map them to responses."""

from __future__ import annotations

from quill.errors import Conflict, PermissionDenied, ValidationFailed


class LetterFinal(Conflict):
    """A final letter never changes; corrections are a new letter that amends it."""

    error_code = "letter_final"
    default_message = "This letter is final and cannot be changed. Write an amendment instead."


class LetterNotFinal(Conflict):
    error_code = "letter_not_final"
    default_message = "Only a final letter can be amended; this one is still a draft."


class LetterAlreadyAmended(Conflict):
    error_code = "letter_already_amended"
    default_message = "This letter has already been corrected by a newer final letter; amend that one instead."


class LetterIncomplete(ValidationFailed):
    """A draft that cannot be finalised yet; `fields` maps field names to messages."""

    error_code = "letter_incomplete"
    default_message = "The letter is not complete."

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__(" ".join(fields.values()), fields=fields)


class LetterInvalid(ValidationFailed):
    error_code = "letter_invalid"
    default_message = "Some details of the letter need correcting."

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__(" ".join(fields.values()), fields=fields)


class ClinicianRequired(PermissionDenied):
    error_code = "clinician_required"
    default_message = "Only clinicians can write, finalise or amend letters."
