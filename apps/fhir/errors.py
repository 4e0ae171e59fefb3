"""Refusals of Quill's FHIR facade and of outbound FHIR sync.

Read-side refusals (``InvalidSearchParameter``, ``DocumentGone``, ``BinaryTooLargeForJson``)
reach clients as OperationOutcomes with the code in ``issue.details.coding``
(system ``urn:quill:error-code``). Sync-side ones (``Fhir*Error``, ``UnknownCategory``)
are seen by operators in the outbox and ``resync_fhir``, not by API clients.
"""

from __future__ import annotations

from typing import Any

from quill.errors import QuillError, ServiceUnavailable, ValidationFailed

# Codes sent without a class of their own (code -> HTTP status), all in OperationOutcomes.
CODES_WITHOUT_CLASS: dict[str, int] = {
    "not_supported": 404,  # views.UnsupportedView: a path under /fhir/r4/ Quill does not serve
    "parse_error": 400,  # views.fhir_exception_handler: DRF's ParseError keeps its own default code here
    "search_parameter_ignored": 200,  # responder: a warning issue in a searchset Bundle, not a refusal
}


class FhirConfigurationError(QuillError):
    """The FHIR client settings are incomplete or contradictory."""

    error_code = "fhir_misconfigured"
    http_status = 500
    default_message = "The FHIR server connection is not configured correctly."


class FhirRetryableError(ServiceUnavailable):
    """The FHIR server could not take the write now; try again later.

    Raised for connection failures, timeouts, 408, 429 and 5xx. ``retry_after`` is the
    server's ``Retry-After`` in seconds when it sent one.
    """

    error_code = "fhir_unavailable"
    default_message = "The FHIR server is unavailable; the write will be retried."

    def __init__(self, message: str | None = None, retry_after: float | None = None, *, status: int | None = None):
        super().__init__(message, retry_after=retry_after, status=status)
        self.retry_after = retry_after
        self.status = status


class FhirRejectedError(QuillError):
    """The FHIR server refused the write; sending it again unchanged will not help.

    Raised for 4xx other than 408/429 (412 "multiple matches" included) and for
    responses Quill cannot interpret. ``operation_outcome`` is the server's
    OperationOutcome when the body carried one.
    """

    error_code = "fhir_rejected"
    http_status = 502
    default_message = "The FHIR server rejected the resource."

    def __init__(
        self, message: str | None = None, status: int | None = None, operation_outcome: dict[str, Any] | None = None
    ):
        super().__init__(message, status=status, operation_outcome=operation_outcome)
        self.status = status
        self.operation_outcome = operation_outcome


class FhirVersionConflict(FhirRejectedError):
    """412 on an ``If-Match`` update: the resource changed on the server; re-read its version, then retry."""


class FhirResourceGone(FhirRejectedError):
    """404/410 for a resource Quill had written: it was deleted on the server."""


class FhirDeleteRefused(FhirRejectedError):
    """405/409 on DELETE: the server keeps its resources; Quill marks the copy entered-in-error instead."""


class FhirMappingError(ValidationFailed):
    """The facts cannot be turned into a valid FHIR resource."""

    error_code = "fhir_mapping_failed"
    default_message = "The record cannot be expressed as a valid FHIR resource."


class FhirCodeError(ValidationFailed):
    """A resource carries a code outside its required value set."""

    error_code = "fhir_invalid_code"
    default_message = "The FHIR resource carries a code outside its value set."


class UnknownCategory(ValidationFailed):
    error_code = "unknown_category"
    default_message = "That document category is not one Quill knows."


class InvalidSearchParameter(ValidationFailed):
    """A FHIR search parameter value Quill cannot interpret."""

    error_code = "invalid_search_parameter"
    default_message = "A search parameter is not valid."


class BinaryTooLargeForJson(QuillError):
    error_code = "binary_too_large_for_json"
    http_status = 406
    default_message = (
        "This document is too large to send inside a FHIR Binary resource; "
        "ask for the raw bytes instead (Accept: */* or the document's own content type)."
    )


class DocumentGone(QuillError):
    """The document existed and was deleted (FHIR answers 410 Gone)."""

    error_code = "document_deleted"
    http_status = 410
    default_message = "This document has been deleted."


class InvalidCursor(ValidationFailed):
    """A paging cursor that is not one Quill issued for this search and organisation, or has expired."""

    error_code = "invalid_cursor"
    default_message = (
        "This paging link is not valid for this search (changed, expired or from another organisation); "
        "run the search again and follow its 'next' link."
    )


class VersionNotFound(QuillError):
    """A vread of a version Quill does not hold: only the current version of a resource is kept."""

    error_code = "version_not_found"
    http_status = 404
    default_message = "Quill keeps only the current version of this resource; read it without a version."


# --- ITI-65 Provide Document Bundle (Document Recipient) -------------------------------------------
# Each refusal names the Bundle.entry it is about (``data["entry"]``, sent as the issue's
# ``expression``) and means nothing from the bundle was stored.


class ProvideBundleInvalid(ValidationFailed):
    """The bundle is not an MHD Provide Document Bundle Quill can take (structure, codes, references)."""

    error_code = "mhd_bundle_invalid"
    default_message = "This is not a valid MHD Provide Document Bundle; nothing from it was stored."


class ProvideBundleNotSupported(ValidationFailed):
    """Valid MHD that Quill does not take: Folders, replacing by PATCH, creating Patients, FHIR Documents."""

    error_code = "mhd_not_supported"
    fhir_issue_code = "not-supported"
    default_message = "The bundle asks for something Quill's Document Recipient does not do; nothing was stored."


class ProvideBundleTooLarge(QuillError):
    error_code = "mhd_bundle_too_large"
    http_status = 413
    fhir_issue_code = "too-long"
    default_message = (
        "The bundle's metadata (everything but the documents themselves) is larger than Quill accepts; "
        "send fewer documents per bundle."
    )


class UnresolvedReference(QuillError):
    """ITI-65 UnresolvedReferenceException: the patient (or another reference) is not known here."""

    error_code = "mhd_unresolved_reference"
    http_status = 422
    fhir_issue_code = "not-found"
    default_message = "UnresolvedReferenceException: the bundle refers to a patient Quill does not know."


class AttachmentMismatch(QuillError):
    """The DocumentReference's size or hash does not describe the Binary that came with it."""

    error_code = "mhd_attachment_mismatch"
    http_status = 422
    fhir_issue_code = "value"
    default_message = "A document's size or hash does not match its content; nothing from the bundle was stored."


class DuplicateSubmission(QuillError):
    """An identifier that was already used for something else (a SubmissionSet or a document)."""

    error_code = "mhd_duplicate_identifier"
    http_status = 409
    fhir_issue_code = "duplicate"
    default_message = "The bundle reuses an identifier Quill already holds for different content."
