"""What the OpenAPI schema says that serializers cannot: refusals, pages and result lists.

Every refusal has one body, ``{"detail": {"message", "error_code"}}``. An operation documents
each HTTP status it can refuse with, and for each the ``error_code`` values it can send (an
enum), taken from the error classes (``apps/<app>/errors.py``, ``quill/errors.py``) and the
codes listed in their ``CODES_WITHOUT_CLASS``. A request body that fails field validation adds
the codes of the serializer's own fields (DRF's ``max_length``, ``invalid_choice``, ...).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from quill.api import MAX_PAGE_NUMBER
from quill.errors import CODES_WITHOUT_CLASS, QuillError

# Codes a field problem may carry that quill.api sends as "invalid" (see quill.api._first_code).
SENT_AS_INVALID = frozenset({"invalid", "required", "null", "blank"})

STATUS_DESCRIPTIONS = {
    400: "The request cannot be accepted as sent; `fields` names the fields to correct. A query parameter "
    "the operation does not list is refused (`unknown_parameter`), as is one given twice (`repeated_parameter`) "
    "and a body field or form part it does not list (`unknown_field`): none is ever ignored.",
    401: "No credentials, or credentials Quill does not accept.",
    403: "The caller's role, network address or the record's restriction does not allow this.",
    404: "No such object, or not one the caller may see (Quill does not say which).",
    406: "The `Accept` header asks for a format Quill cannot send.",
    409: "The object's current state does not allow this.",
    411: "The request had no `Content-Length`.",
    413: "The file is larger than Quill accepts.",
    415: "The body's media type, or the file's type, is not accepted here.",
    416: "The `Range` asked for lies outside the document.",
    429: "Too many requests for this token; wait `Retry-After` seconds.",
    503: "A service Quill depends on is unavailable; retry later.",
}

# Every operation that reads a request body can be sent one that cannot be parsed, or in a
# media type it does not take (DRF's ParseError and UnsupportedMediaType, see quill.api).
BODY_REFUSALS = ("malformed_request", "unsupported_media_type")

Refusal = type[QuillError] | str | tuple[str, int]


def _code_and_status(refusal: Refusal) -> tuple[str, int]:
    if isinstance(refusal, tuple):
        return refusal
    if isinstance(refusal, str):
        return refusal, CODES_WITHOUT_CLASS[refusal]
    return refusal.error_code, refusal.http_status


def error_body(codes: Iterable[str]) -> dict[str, Any]:
    """The schema of a refusal whose `error_code` is one of `codes`."""
    return {
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "type": "object",
                "required": ["message", "error_code"],
                "properties": {
                    "message": {"type": "string", "description": "For people; may change."},
                    "error_code": {
                        "type": "string",
                        "enum": sorted(set(codes)),
                        "description": "Stable; see docs/errors.md.",
                    },
                    "fields": {
                        "type": "object",
                        "description": "Field name -> what is wrong with it (field problems only).",
                        "additionalProperties": {
                            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                        },
                    },
                },
            }
        },
    }


def field_codes(serializer_class: type[serializers.Serializer]) -> set[str]:
    """The codes a failed validation of `serializer_class` can send as `error_code`."""
    codes = {"invalid"}
    for field in serializer_class().fields.values():
        found = set(field.error_messages) | {getattr(v, "code", None) for v in field.validators}
        codes |= {code for code in found if isinstance(code, str)} - SENT_AS_INVALID
    return codes


def by_status(*refusals: Refusal, request: type[serializers.Serializer] | None = None) -> dict[int, set[str]]:
    """HTTP status -> the error codes sent with it, for `refusals` (and `request`'s field checks)."""
    statuses: dict[int, set[str]] = defaultdict(set)
    for refusal in refusals:
        code, status = _code_and_status(refusal)
        statuses[status].add(code)
    if request is not None:
        statuses[400] |= field_codes(request)
    return statuses


def refusals(*refused: Refusal, request: type[serializers.Serializer] | None = None) -> dict[int, OpenApiResponse]:
    """`responses=` entries for the refusals an operation can send, one per HTTP status.

    `request` is the serializer that validates the body or query, whose field codes are added.
    Authentication, network allowlist and throttling refusals are added to every operation
    that needs credentials by the schema hook in apps/accounts/openapi.py.
    """
    return {
        status: OpenApiResponse(response=error_body(codes), description=STATUS_DESCRIPTIONS.get(status, ""))
        for status, codes in sorted(by_status(*refused, request=request).items())
    }


def merge_refusals(operation: dict[str, Any], statuses: dict[int, set[str]]) -> None:
    """Add codes to an operation's documented refusals (for schema hooks), creating statuses as needed."""
    responses = operation.setdefault("responses", {})
    for status, codes in statuses.items():
        response = responses.get(str(status))
        if response is None:
            responses[str(status)] = {
                "description": STATUS_DESCRIPTIONS.get(status, ""),
                "content": {"application/json": {"schema": error_body(codes)}},
            }
            continue
        for content in response.get("content", {}).values():
            code_schema = content["schema"]["properties"]["detail"]["properties"]["error_code"]
            code_schema["enum"] = sorted(set(code_schema["enum"]) | codes)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """A StrictSerializer refuses unknown keys, so its request schema allows none."""

    target_class = "quill.api.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class MultipartFormSchema(StrictSerializerSchema):
    """A multipart form's view refuses parts it does not list (quill.api.MultipartForm), so its schema allows none."""

    target_class = "quill.api.MultipartForm"


class TrimmedCharFieldSchema(OpenApiSerializerFieldExtension):
    """DRF strips spaces from a CharField before it checks it, so a value of spaces alone is blank:
    where blank is refused, the request schema asks for a character that is not a space."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        if direction == "request" and field.trim_whitespace and not field.allow_blank and "pattern" not in schema:
            schema["pattern"] = r"\S"
        return schema


# --- pages and lists --------------------------------------------------------------------------

PAGE_PARAMETERS = [
    OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER},
        description="Page number, from 1 (a page past the last answers 404 `not_found`).",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": 200},
        description="Results per page (default 25, at most 200).",
    ),
]


@functools.cache
def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page Quill's lists answer with: `{count, next, previous, results}` of `serializer_class`."""
    return page_of(serializer_class.__name__.removesuffix("Serializer"), serializer_class(many=True))


def page_of(name: str, results: serializers.Field) -> type[serializers.Serializer]:
    """A page whose `results` are `results` (a `many=True` serializer or a list field)."""
    fields = {
        "count": serializers.IntegerField(min_value=0, help_text="Results in all pages."),
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null on the first."),
        "results": results,
    }
    return type(f"Paginated{name}ListSerializer", (serializers.Serializer,), fields)


@functools.cache
def results_of(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A whole list in one answer (never paged): `{results: [...]}` of `serializer_class`."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return type(f"{name}ResultsSerializer", (serializers.Serializer,), {"results": serializer_class(many=True)})


# --- unknown input ----------------------------------------------------------------------------


def add_unknown_input_refusals(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: every operation refuses a query parameter it does not list (400
    `unknown_parameter`, quill.api.APIView) and, if it takes any, one given twice (`repeated_parameter`);
    one whose request body allows no other properties
    (`additionalProperties: false`, JSON or multipart) refuses an unlisted field (400 `unknown_field`)."""
    components = result.get("components", {}).get("schemas", {})
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            codes = {"unknown_parameter"}
            if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
                codes.add("repeated_parameter")
            if _body_is_closed(operation, components):
                codes.add("unknown_field")
            merge_refusals(operation, {400: codes})
    return result


def _body_is_closed(operation: dict[str, Any], components: dict[str, Any]) -> bool:
    contents = operation.get("requestBody", {}).get("content", {}).values()
    schemas = [_resolved(content.get("schema", {}), components) for content in contents]
    return any(schema.get("additionalProperties") is False for schema in schemas)


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref", "")
    prefix = "#/components/schemas/"
    return components.get(reference.removeprefix(prefix), {}) if reference.startswith(prefix) else schema


# --- links ------------------------------------------------------------------------------------

_DOCUMENT_OPERATIONS = (
    "documents_retrieve",
    "documents_partial_update",
    "documents_destroy",
    "documents_annotations_retrieve",
    "documents_annotations_create",
    "documents_content_retrieve",
    "documents_download_url_retrieve",
    "documents_versions_retrieve",
    "documents_versions_create",
    "documents_legal_hold_create",
    "documents_restore_create",
)
_PATIENT_OPERATIONS = (
    "patients_retrieve",
    "patients_partial_update",
    "patients_letters_list",
    "patients_letters_create",
    "patients_break_glass_create",
)
_LETTER_OPERATIONS = ("letters_retrieve", "letters_partial_update", "letters_finalise_create", "letters_amend_create")

# (operation, status) -> (the path parameter it names, where in the response, the operations it leads to)
LINKS: dict[tuple[str, str], list[tuple[str, str, tuple[str, ...]]]] = {
    ("documents_create", "201"): [("document_id", "#/id", _DOCUMENT_OPERATIONS)],
    ("documents_upload_create", "201"): [("document_id", "#/id", _DOCUMENT_OPERATIONS)],
    ("documents_versions_create", "201"): [("document_id", "#/id", _DOCUMENT_OPERATIONS)],
    ("documents_retrieve", "200"): [("patient_id", "#/patient_id", _PATIENT_OPERATIONS)],
    ("patients_create", "201"): [("patient_id", "#/id", _PATIENT_OPERATIONS)],
    ("patients_letters_create", "201"): [("letter_id", "#/id", _LETTER_OPERATIONS)],
    ("letters_amend_create", "201"): [("letter_id", "#/id", _LETTER_OPERATIONS)],
    ("letters_finalise_create", "200"): [
        ("document_id", "#/document", ("documents_retrieve", "documents_content_retrieve"))
    ],
}


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: OpenAPI `links` from what an operation creates or names to the operations
    on it (a stored document's id to reading, amending and downloading it, ...), so clients and schemathesis's
    stateful phase follow the schema's own links. An operation the request cannot see (another role's schema)
    is left out; a link naming a parameter its target does not take is a programming error."""
    operations = {
        operation["operationId"]: operation
        for path_item in result.get("paths", {}).values()
        for method, operation in path_item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (source, status), links in LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for parameter, pointer, targets in links:
            for target in targets:
                if target not in operations:
                    continue
                names = {p["name"] for p in operations[target].get("parameters", []) if p.get("in") == "path"}
                if parameter not in names:
                    raise ValueError(f"link {source} -> {target}: {target} takes no path parameter {parameter}")
                link_name = "".join(part.capitalize() for part in target.split("_"))
                response.setdefault("links", {})[link_name] = {
                    "operationId": target,
                    "parameters": {parameter: f"$response.body{pointer}"},
                }
    return result
