"""Refusals of the document domain, in words a clinician can act on.

The byte layer's refusals (a file that cannot be accepted, storage down) are in
``apps.files.errors``. Every class carries a stable ``error_code`` for integrators, an
``http_status`` for the API layer, and the facts behind the refusal in ``data``.
"""

from __future__ import annotations

from quill.errors import Conflict, QuillError, ValidationFailed


class InvalidCategory(ValidationFailed):
    error_code = "invalid_category"
    default_message = (
        "That is not one of Quill's document categories: lab, imaging, clinical-note, consent, "
        "referral, insurance, photo, letter or other."
    )


class UnknownPatient(ValidationFailed):
    """The view layer decides whether to surface this or a 404 (no existence leak across organisations)."""

    error_code = "unknown_patient"
    default_message = "Quill cannot find that patient in your organisation. Check the patient and try again."


class LetterDocumentLocked(Conflict):
    """The document is the signed PDF of a final letter; only amending the letter changes it."""

    error_code = "letter_document_locked"
    default_message = (
        "This document is the signed PDF of a final letter, so it cannot be replaced, edited, annotated or "
        "deleted. To correct it, open the letter and choose “Amend letter”."
    )


class ScanPending(Conflict):
    error_code = "scan_pending"
    default_message = (
        "This document is still being checked for viruses. It can be opened once the check finishes, "
        "usually within a minute."
    )


class Quarantined(Conflict):
    error_code = "quarantined"
    default_message = (
        "This document was found to contain a virus and has been quarantined. "
        "It cannot be opened; your administrators have been told."
    )


class IntegrityError(QuillError):
    """Stored bytes no longer match the checksum taken at upload: a server-side fault, never the user's."""

    error_code = "integrity_error"
    http_status = 500
    default_message = (
        "The stored copy of this document no longer matches the file that was uploaded, so Quill will not "
        "show it. Administrators have been alerted; ask them to restore it from backup."
    )
