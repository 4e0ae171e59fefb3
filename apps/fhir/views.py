"""Quill's FHIR R4 endpoint ``/fhir/r4/``: an IHE MHD Document Responder (ITI-67, ITI-68).

Thin DRF views: the same authentication as the REST API (API tokens as ``Token`` or
``Bearer``, or a verified portal session), isolation and role rules in the selectors,
every read audited in ``apps.fhir.reads``. Errors are OperationOutcomes;
bodies are ``application/fhir+json``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.documents.errors import RangeNotSatisfiable
from apps.documents.permissions import ensure_document_role
from apps.documents.services.delivery import document_content_response, range_not_satisfiable_response
from apps.fhir import codes, reads
from apps.fhir.bundle_stream import body_chunks, read_bundle
from apps.fhir.errors import ProvideBundleInvalid
from apps.fhir.mapping import validate_resource
from apps.fhir.recipient import document_bundle_provide
from apps.fhir.responder import capability_statement
from apps.fhir.search import parse_document_search, parse_list_search, parse_patient_search, wants_fhir_json
from apps.files.upload_handler import configured_max_upload_bytes
from quill import request_context
from quill.errors import InvalidCharacters, QuillError
from quill.types import AuthenticatedRequest

_ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-long",
    415: "not-supported",
    416: "invalid",
    422: "processing",
    429: "throttled",
    503: "transient",
}


class FhirJsonRenderer(JSONRenderer):
    media_type = codes.FHIR_JSON_MIME_TYPE
    format = "fhir+json"


class FhirContentNegotiation(BaseContentNegotiation):
    """FHIR JSON whatever the Accept header says (a Binary read may ask for a PDF; it is answered raw)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def outcome_response(
    status: int,
    message: str,
    *,
    error_code: str,
    headers: dict[str, str] | None = None,
    issue_code: str | None = None,
    expression: str | None = None,
) -> Response:
    """An OperationOutcome with one error issue; Quill's ``error_code`` rides in ``issue.details``.

    ``expression`` names the element the refusal is about (``Bundle.entry[2]`` for ITI-65).
    """
    request_context.note_refusal(error_code)
    outcome = operation_outcome(status, message, error_code=error_code, issue_code=issue_code, expression=expression)
    return Response(outcome, status=status, headers=headers)


def invalid_input_response(request: HttpRequest, refusal: InvalidCharacters) -> HttpResponse:
    """The input guard's refusal (quill/input_guard.py) as an OperationOutcome; registered in FhirConfig.ready."""
    outcome = operation_outcome(refusal.http_status, refusal.message, error_code=refusal.error_code)
    return HttpResponse(json.dumps(outcome), status=refusal.http_status, content_type=codes.FHIR_JSON_MIME_TYPE)


def operation_outcome(
    status: int, message: str, *, error_code: str, issue_code: str | None = None, expression: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error",
        "code": issue_code or _ISSUE_TYPES.get(status, "exception" if status >= 500 else "processing"),
        "details": {"coding": [{"system": codes.ERROR_CODE_SYSTEM, "code": error_code}], "text": message},
        "diagnostics": message,
    }
    if expression:
        issue["expression"] = [expression]
    return validate_resource(OperationOutcome, {"resourceType": "OperationOutcome", "issue": [issue]})


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as an OperationOutcome with the matching HTTP status."""
    if isinstance(exc, QuillError):
        entry = exc.data.get("entry")
        return outcome_response(
            exc.http_status,
            exc.message,
            error_code=exc.error_code,
            issue_code=getattr(exc, "fhir_issue_code", None),
            expression=f"Bundle.entry[{entry}]" if isinstance(entry, int) else None,
        )
    if isinstance(exc, Http404):
        return outcome_response(404, "Not found.", error_code="not_found")
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait:
        headers["Retry-After"] = str(int(wait) + 1)
    codes_ = exc.get_codes()
    error_code = codes_ if isinstance(codes_, str) else exc.default_code
    return outcome_response(exc.status_code, str(exc.detail), error_code=error_code, headers=headers)


def _pairs(request: AuthenticatedRequest) -> list[tuple[str, str]]:
    return [(name, value) for name, values in request.query_params.lists() for value in values]


class FhirView(APIView):
    # FHIR describes itself (GET /fhir/r4/metadata); it is not part of the REST API's OpenAPI schema.
    schema = None
    renderer_classes = [FhirJsonRenderer]
    content_negotiation_class = FhirContentNegotiation

    def get_exception_handler(self):
        return fhir_exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="Quill FHIR"'

    def strict(self, request: AuthenticatedRequest) -> bool:
        return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")


class MetadataView(FhirView):
    """The CapabilityStatement is public, as FHIR and SMART expect: clients read it before they authenticate."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(
            capability_statement(
                reads.public_base_url(), software_version=str(settings.SPECTACULAR_SETTINGS["VERSION"])
            )
        )


class DocumentReferenceSearchView(FhirView):
    def get(self, request: AuthenticatedRequest) -> Response:
        search = parse_document_search(_pairs(request), strict=self.strict(request))
        return Response(reads.document_search_bundle(user=request.user, search=search))


class DocumentReferenceReadView(FhirView):
    def get(self, request: AuthenticatedRequest, resource_id: str) -> Response:
        return Response(reads.document_reference_read(user=request.user, document_id=resource_id))


class BinaryReadView(FhirView):
    """ITI-68: the raw bytes with their own content type, or a ``Binary`` resource when FHIR JSON is asked for."""

    def get(self, request: AuthenticatedRequest, resource_id: str) -> HttpResponse | StreamingHttpResponse:
        document = reads.binary_document(user=request.user, document_id=resource_id)
        if wants_fhir_json(request.headers.get("Accept", ""), request.query_params.get("_format")):
            return Response(reads.binary_resource_read(user=request.user, document=document))
        try:
            return document_content_response(request=request, actor=request.user, document=document)
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)


class PatientSearchView(FhirView):
    def get(self, request: AuthenticatedRequest) -> Response:
        search = parse_patient_search(_pairs(request), strict=self.strict(request))
        return Response(reads.patient_search_bundle(user=request.user, search=search))


class PatientReadView(FhirView):
    def get(self, request: AuthenticatedRequest, resource_id: str) -> Response:
        return Response(reads.patient_read(user=request.user, patient_id=resource_id))


class TransactionView(FhirView):
    """ITI-65 Provide Document Bundle: a transaction Bundle POSTed to the base, read as a stream."""

    def post(self, request: AuthenticatedRequest) -> Response:
        ensure_document_role(user=request.user)
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in (codes.FHIR_JSON_MIME_TYPE, "application/json"):
            return outcome_response(
                415,
                f"Send the Bundle as {codes.FHIR_JSON_MIME_TYPE}, not {media_type or 'without a Content-Type'}.",
                error_code="unsupported_media_type",
            )
        if request.stream is None:
            raise ProvideBundleInvalid("The request has no body; POST the transaction Bundle.")
        bundle = read_bundle(
            body_chunks(request.stream),
            max_document_bytes=configured_max_upload_bytes(),
            tmp_dir=settings.FILE_UPLOAD_TEMP_DIR,
        )
        result = document_bundle_provide(actor=request.user, bundle=bundle, max_documents=settings.QUILL_MAX_BULK_FILES)
        return Response(result.response, status=200)


class ListSearchView(FhirView):
    def get(self, request: AuthenticatedRequest) -> Response:
        search = parse_list_search(_pairs(request), strict=self.strict(request))
        return Response(reads.list_search_bundle(user=request.user, search=search))


class ListReadView(FhirView):
    def get(self, request: AuthenticatedRequest, resource_id: str) -> Response:
        return Response(reads.list_read(user=request.user, list_id=resource_id))


class UnsupportedView(FhirView):
    """Anything else under ``/fhir/r4/``: an OperationOutcome rather than an HTML 404."""

    def get(self, request: AuthenticatedRequest, path: str) -> Response:
        return outcome_response(
            404, f"Quill's FHIR endpoint does not serve {path!r}; see /fhir/r4/metadata.", error_code="not_supported"
        )
