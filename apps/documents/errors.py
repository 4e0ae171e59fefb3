"""Refusals of the document domain, in words a clinician can act on.

The byte layer's refusals (a file that cannot be accepted, storage down) are in
``apps.files.errors``. Every class carries a stable ``error_code`` for integrators, an
``http_status`` for the API layer, and the facts behind the refusal in ``data``.
"""

from __future__ import annotations

from apps.patients.errors import BreakGlassRequired
from quill.errors import Conflict, PermissionDenied, QuillError, ValidationFailed

# Codes in bulk upload answers without a class of their own (code -> HTTP status of the answer).
CODES_WITHOUT_CLASS: dict[str, int] = {
    "batch_refused": 400,  # per file: not stored because another file in the batch was refused
    "bulk_refused": 400,  # the batch: some files were refused, so none was stored (413/415 if the worst was)
    "link_expired": 403,  # api.content.SignedDownloadView: the signed link is past its expiry
    "link_invalid": 403,  # api.content.SignedDownloadView: the signed link is not one Quill issued
}


class InvalidCategory(ValidationFailed):
    error_code = "invalid_category"
    default_message = (
        "That is not one of Quill's document categories: lab, imaging, clinical-note, consent, "
        "referral, insurance, photo, letter or other."
    )


class InvalidFileDetails(ValidationFailed):
    """A bulk upload gave one file a title or clinical date of its own that cannot be used."""

    error_code = "invalid_file_details"
    default_message = "This file's own title or clinical date cannot be used."


class BulkDetailsMismatch(ValidationFailed):
    """A bulk upload's per-file details (``titles``, ``categories``, ``document_dates``) do not pair up
    with its files, so Quill cannot tell which detail belongs to which file."""

    error_code = "bulk_details_mismatch"
    default_message = "Send each file's own details once for every file, in the order of the files, or not at all."


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


class RestrictedPatientDocument(BreakGlassRequired):
    """A document of a restricted patient: the same refusal as the patient's record, worded for a document."""

    default_message = (
        "This patient's record is restricted to their care team. Break the glass on the patient's page, "
        "giving a reason, to open it."
    )


class VersionSuperseded(Conflict):
    """An earlier version is kept as it was, annotations included."""

    error_code = "version_superseded"
    default_message = (
        "This is an earlier version of the document, kept exactly as it was, so its annotations cannot change. "
        "Open the current version to annotate it."
    )


class AnnotationInvalid(ValidationFailed):
    error_code = "annotation_invalid"
    default_message = "This annotation cannot be saved: its shape or position is not valid."


class IntegrityAbort(Exception):  # internal: never reaches a client as an error_code
    """Raised inside the streaming body to abort a response whose bytes do not match."""


class DocumentCorrupt(QuillError):
    error_code = "document_corrupt"
    http_status = 409
    default_message = (
        "The stored copy of this document no longer matches the file that was uploaded, so Quill will not "
        "show it. Your administrators have been alerted and can restore it from backup."
    )


class RangeNotSatisfiable(QuillError):
    error_code = "range_not_satisfiable"
    http_status = 416
    default_message = "The requested byte range is not within the document."


class QuillErrorTooMany(QuillError):
    """The single-file upload endpoint was sent more than one file."""

    error_code = "too_many_files"
    http_status = 400
    default_message = "Send one file to this endpoint; use /api/documents/bulk/ for several."


class UseFormUpload(QuillError):
    """The direct (raw body) upload endpoint was sent a form; the same code DRF uses for a body it cannot parse."""

    error_code = "unsupported_media_type"
    http_status = 415
    default_message = (
        "Send the file itself as the request body, with its own Content-Type (for example application/pdf "
        "or application/octet-stream). Form bodies are not accepted here: multipart forms go to "
        "/api/documents/ or /api/documents/bulk/."
    )


class SignedLinkInvalid(PermissionDenied):
    """A signed download link that was altered, or never issued by this installation."""

    error_code = "link_invalid"
    default_message = "This download link is not valid."


class SignedLinkExpired(PermissionDenied):
    error_code = "link_expired"
    default_message = "This download link has expired; ask Quill for a new one."


class SignedLinkRevoked(PermissionDenied):
    """Whoever asked for the link can no longer use Quill as they did then (account, token, sessions)."""

    error_code = "link_revoked"
    default_message = (
        "This download link no longer works: the account or API token that asked for it has been "
        "deactivated, revoked or signed out since. Ask Quill for a new one."
    )
