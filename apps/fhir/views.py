"""Quill's FHIR R4 endpoint ``/fhir/r4/``: an IHE MHD Document Responder (ITI-66, ITI-67, ITI-68)
and Document Recipient (ITI-65).

Thin DRF views: the same authentication as the REST API (API tokens as ``Token`` or
``Bearer``, or a verified portal session), isolation and role rules in the selectors,
every read audited in ``apps.fhir.reads``. Errors are OperationOutcomes; bodies are
``application/fhir+json`` or ``application/fhir+xml`` as the client asks (``formats.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, QueryDict, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe
from fhir.resources.R4B.operationoutcome import OperationOutcome
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.documents.errors import RangeNotSatisfiable
from apps.documents.models import Document
from apps.documents.permissions import ensure_document_role
from apps.documents.services.delivery import document_content_response
from apps.fhir import codes, reads
from apps.fhir.bundle_stream import body_chunks, read_bundle
from apps.fhir.errors import ProvideBundleInvalid
from apps.fhir.formats import (
    BinaryContentNegotiation,
    FhirContentNegotiation,
    FhirJsonRenderer,
    FhirXmlRenderer,
    binary_format,
    not_acceptable,
)
from apps.fhir.mapping import validate_resource
from apps.fhir.recipient import document_bundle_provide
from apps.fhir.responder import capability_statement
from apps.fhir.search import (
    SEARCHES,
    SearchRequest,
    parse_document_search,
    parse_elements,
    parse_list_search,
    parse_patient_search,
    parse_summary,
)
from apps.fhir.subsetting import subset
from apps.files.upload_handler import configured_max_upload_bytes
from quill import request_context
from quill.errors import InvalidCharacters, QuillError
from quill.parsers import FormParser
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
    """The search's (name, value) pairs: the query string, then a POSTed form body (``_search``)."""
    pairs = [(name, value) for name, values in request.query_params.lists() for value in values]
    if request.method == "POST":
        form = cast(QueryDict, request.data)  # FormParser is the only parser of the search views
        pairs += [(name, value) for name, values in form.lists() for value in values]
    return pairs


class FhirView(APIView):
    # FHIR describes itself (GET /fhir/r4/metadata); it is not part of the REST API's OpenAPI schema.
    schema = None
    renderer_classes = [FhirJsonRenderer, FhirXmlRenderer]
    content_negotiation_class = FhirContentNegotiation
    parser_classes: list = []

    def get_exception_handler(self):
        return fhir_exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="Quill FHIR"'

    def get_renderer_context(self):
        context = super().get_renderer_context()
        if self.request.query_params.get("_pretty") == "true":
            context["indent"] = 2
        return context

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        return response

    def strict(self, request: AuthenticatedRequest) -> bool:
        return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")

    def base_url(self, request: AuthenticatedRequest) -> str:
        return reads.public_base_url(request)


class MetadataView(FhirView):
    """The CapabilityStatement is public, as FHIR and SMART expect: clients read it before they authenticate."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(
            capability_statement(self.base_url(request), software_version=str(settings.SPECTACULAR_SETTINGS["VERSION"]))
        )


class SearchView(FhirView):
    """``GET [type]?…`` and ``POST [type]/_search`` (form-encoded body), which MHD requires of a Responder."""

    parser_classes = [FormParser]
    parse: Callable[..., SearchRequest]
    answer: Callable[..., dict]

    def get(self, request: AuthenticatedRequest) -> Response:
        search = type(self).parse(_pairs(request), strict=self.strict(request))
        return Response(type(self).answer(user=request.user, search=search, base_url=self.base_url(request)))

    def post(self, request: AuthenticatedRequest) -> Response:
        return self.get(request)


class DocumentReferenceSearchView(SearchView):
    parse = staticmethod(parse_document_search)
    answer = staticmethod(reads.document_search_bundle)


class PatientSearchView(SearchView):
    parse = staticmethod(parse_patient_search)
    answer = staticmethod(reads.patient_search_bundle)


class ListSearchView(SearchView):
    """ITI-66 Find Document Lists: the SubmissionSets Quill received."""

    parse = staticmethod(parse_list_search)
    answer = staticmethod(reads.list_search_bundle)


class ReadView(FhirView):
    """A versioned read: ``ETag: W/"<versionId>"``, ``Last-Modified``, and 304 for a matching conditional read."""

    def answer(self, request: AuthenticatedRequest, resource: dict) -> HttpResponse:
        meta = resource.get("meta") or {}
        etag = f'W/"{meta["versionId"]}"'
        last_modified = dt.datetime.fromisoformat(meta["lastUpdated"])
        headers = {"ETag": etag, "Last-Modified": http_date(last_modified.timestamp())}
        if _not_modified(request, etag, last_modified):
            response = HttpResponseNotModified()
            for name, value in headers.items():
                response[name] = value
            return response
        summary = request.query_params.get("_summary")
        elements = request.query_params.get("_elements")
        if summary or elements:
            resource_type = resource["resourceType"]
            resource = subset(
                resource,
                summary=parse_summary(summary) if summary else None,
                elements=parse_elements(SEARCHES[resource_type].model, elements) if elements else (),
            )
        return Response(resource, headers=headers)


def _not_modified(request: AuthenticatedRequest, etag: str, last_modified: dt.datetime) -> bool:
    """RFC 9110: If-None-Match decides when present (weak comparison); else If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and int(last_modified.timestamp()) <= since


class DocumentReferenceReadView(ReadView):
    def get(self, request: AuthenticatedRequest, resource_id: str, version_id: str | None = None) -> HttpResponse:
        resource = reads.document_reference_read(
            user=request.user, document_id=resource_id, base_url=self.base_url(request), version_id=version_id
        )
        return self.answer(request, resource)


class PatientReadView(ReadView):
    def get(self, request: AuthenticatedRequest, resource_id: str, version_id: str | None = None) -> HttpResponse:
        return self.answer(
            request, reads.patient_read(user=request.user, patient_id=resource_id, version_id=version_id)
        )


class BinaryReadView(FhirView):
    """ITI-68: the raw bytes with their own content type, or a ``Binary`` resource when FHIR JSON or XML is asked for.

    An ``Accept`` that admits neither the document's own type nor a FHIR format is 406.
    """

    content_negotiation_class = BinaryContentNegotiation

    def get(self, request: AuthenticatedRequest, resource_id: str) -> HttpResponse | StreamingHttpResponse:
        document = reads.binary_document(user=request.user, document_id=resource_id)
        representation = binary_format(
            request.headers.get("Accept", ""), request.query_params.get("_format"), document.content_type
        )
        if representation is None:
            raise not_acceptable(
                f"This document is {document.content_type}; ask for that (or */*), "
                "or for a FHIR Binary as application/fhir+json or application/fhir+xml."
            )
        if representation != "raw":
            request.accepted_renderer = FhirXmlRenderer() if representation == "xml" else FhirJsonRenderer()
            request.accepted_media_type = request.accepted_renderer.media_type
            return Response(
                reads.binary_resource_read(user=request.user, document=document, representation=representation)
            )
        try:
            return document_content_response(request=request, actor=request.user, document=document)
        except RangeNotSatisfiable:
            return _range_not_satisfiable(document)


def _range_not_satisfiable(document: Document) -> Response:
    """416 with the size in ``Content-Range`` and an OperationOutcome saying what went wrong."""
    return outcome_response(
        416,
        f"The requested range is outside this document of {document.size} bytes.",
        error_code=RangeNotSatisfiable.error_code,
        headers={"Content-Range": f"bytes */{document.size}"},
    )


class ListReadView(ReadView):
    def get(self, request: AuthenticatedRequest, resource_id: str, version_id: str | None = None) -> HttpResponse:
        return self.answer(request, reads.list_read(user=request.user, list_id=resource_id, version_id=version_id))


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


class UnsupportedView(FhirView):
    """Anything else under ``/fhir/r4/``: an OperationOutcome rather than an HTML 404."""

    def get(self, request: AuthenticatedRequest, path: str) -> Response:
        return outcome_response(
            404, f"Quill's FHIR endpoint does not serve {path!r}; see /fhir/r4/metadata.", error_code="not_supported"
        )
