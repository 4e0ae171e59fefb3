"""Typed refusals for letters and their openEHR push; the API and portal map them to responses.

The openEHR ones (``Ehr*Error``, ``FlatBuildError``, ``TemplateParseError``) are seen by operators
(outbox, ``upload_ehr_template``), not by API clients.
"""

from __future__ import annotations

from quill.errors import Conflict, PermissionDenied, QuillError, ValidationFailed


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


class LetterRoleRequired(PermissionDenied):
    """The generic ``permission_denied``, worded for letters."""

    default_message = "Your role does not include clinical letters."


class EhrbaseError(QuillError):
    """Talking to the openEHR server failed."""

    error_code = "ehrbase_error"
    http_status = 502
    default_message = "The openEHR server could not be reached."


class EhrRetryableError(EhrbaseError):
    """A transient failure: the same request may succeed later."""

    error_code = "ehrbase_unavailable"
    http_status = 503

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class EhrRejectedError(EhrbaseError):
    """The server refused the request; sending it again unchanged will not help."""

    error_code = "ehrbase_rejected"

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message, status=status, body=body)
        self.status = status
        self.body = body


class FlatBuildError(ValidationFailed):
    """The letter cannot be expressed as a valid composition."""

    error_code = "openehr_flat_invalid"
    default_message = "The letter cannot be sent to the openEHR server."


class TemplateParseError(ValidationFailed):
    """The operational template cannot be read or is not one we can use."""

    error_code = "openehr_template_invalid"
    default_message = "The openEHR operational template is not valid."
