"""Typed refusals for patients; the API and portal map them to responses."""

from __future__ import annotations

from typing import Any

from quill.errors import Conflict, PermissionDenied, ValidationFailed

# Field problem codes (code -> HTTP status): PatientInvalid carries the first one as its error_code,
# and the API sends it with ``fields`` (``required`` is sent as the generic ``invalid``).
CODES_WITHOUT_CLASS: dict[str, int] = {
    "duplicate_nhs_number": 400,
    "invalid_choice": 400,
    "invalid_date": 400,
    "invalid_member": 400,
    "invalid_nhs_number": 400,
    "invalid_reason": 400,
    "read_only": 400,
    "too_long": 400,
}


class BreakGlassRequired(PermissionDenied):
    """A restricted record the user may open only by breaking the glass (clinical roles)."""

    error_code = "break_glass_required"
    default_message = (
        "This record is restricted to its care team. If you need it for this patient's care, "
        "break the glass and give your reason; the access is recorded."
    )


class RestrictedRecord(PermissionDenied):
    """A restricted record the user's roles can never open (e.g. billing only)."""

    error_code = "restricted_record"
    default_message = "This record is restricted to its care team, and your role cannot open it."


class RoleRequired(PermissionDenied):
    """The generic ``permission_denied``, worded for a missing role."""

    default_message = "Your role does not allow this."


class PatientInvalid(ValidationFailed):
    """Field-level problems; `fields` maps a field name to [(message, code), ...].

    The instance's ``error_code`` is the first field problem's code (see ``CODES_WITHOUT_CLASS``).
    """

    default_message = "Some details need correcting."

    def __init__(self, fields: dict[str, list[tuple[str, str]]], message: str | None = None, **data: Any) -> None:
        self.fields = fields
        first_code = next((code for problems in fields.values() for _, code in problems), "invalid")
        self.error_code = first_code
        super().__init__(message or " ".join(text for problems in fields.values() for text, _ in problems), **data)


class DuplicateNhsNumber(PatientInvalid):
    def __init__(self) -> None:
        super().__init__(
            {
                "nhs_number": [
                    ("Another patient in this organisation already has this NHS number.", "duplicate_nhs_number")
                ]
            }
        )


class BreakGlassReasonInvalid(PatientInvalid):
    def __init__(self, message: str) -> None:
        super().__init__({"reason": [(message, "invalid_reason")]})


class NotRestricted(Conflict):
    error_code = "not_restricted"
    default_message = "This record is not restricted; there is no glass to break."
