"""API plumbing shared by every app: error shape, pagination, base permissions.

Every API error has the shape {"detail": {"message": ..., "error_code": ...}}.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any, ClassVar, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.validators import RegexValidator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, negotiation, pagination, serializers, views
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from quill import request_context
from quill.errors import NotFound, QuillError, RepeatedField, RepeatedParameter, UnknownField, UnknownParameter

_CODES: dict[type, tuple[str, str]] = {
    exceptions.NotAuthenticated: ("not_authenticated", "Sign in or send an API token."),
    exceptions.AuthenticationFailed: ("authentication_failed", "The credentials were not accepted."),
    exceptions.PermissionDenied: ("permission_denied", "You do not have permission to do this."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "This method is not allowed here."),
    exceptions.NotAcceptable: ("not_acceptable", "The requested response format is not available."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "The request body's media type is not supported."),
    exceptions.Throttled: ("throttled", "Too many requests; slow down and try again shortly."),
    exceptions.ParseError: ("malformed_request", "The request body could not be read."),
}


def flatten_errors(errors: Any) -> str:
    """DRF's nested field errors as one sentence for people."""
    return _flatten(errors)


def _flatten(errors: Any) -> str:
    if isinstance(errors, dict):
        parts = []
        for field, value in errors.items():
            text = _flatten(value)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return " ".join(parts)
    if isinstance(errors, list):
        return " ".join(_flatten(item) for item in errors)
    return str(errors)


def _field_messages(errors: Any, prefix: str = "") -> list[str]:
    """A field's errors as the schema's flat list of strings. A list field's errors come keyed by position
    (`{"0": [...]}`) and a nested object's by its own fields; each message then says which one it is about
    ("Item 1: Must be a valid UUID.")."""
    if isinstance(errors, dict):
        messages = []
        for key, value in errors.items():
            where = f"Item {int(key) + 1}" if str(key).isdigit() else str(key)
            messages += _field_messages(value, f"{prefix}{where}: ")
        return messages
    if isinstance(errors, list):
        return [message for item in errors for message in _field_messages(item, prefix)]
    return [f"{prefix}{errors}"]


def error_response(error_code: str, message: str, http_status: int, **extra: Any) -> Response:
    return Response({"detail": {"message": message, "error_code": error_code, **extra}}, status=http_status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = _error_response(exc, context)
    detail = response.data.get("detail") if response is not None and isinstance(response.data, dict) else None
    if isinstance(detail, dict):
        request_context.note_refusal(str(detail.get("error_code", "")))  # for the denial audit
    return response


def _error_response(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, QuillError):
        fields = getattr(exc, "fields", None)
        extra = {"fields": fields} if fields else {}
        return error_response(exc.error_code, exc.message, exc.http_status, **extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: _field_messages(errors) for name, errors in detail.items()}
        code = _first_code(exc)
        response.data = {"detail": {"message": _flatten(exc.detail), "error_code": code, "fields": fields}}
        return response
    error_code, default_message = next(
        (codes for klass, codes in _CODES.items() if isinstance(exc, klass)), ("error", "The request failed.")
    )
    specific_code = getattr(getattr(exc, "detail", None), "code", None)
    if isinstance(specific_code, str) and specific_code != getattr(exc, "default_code", None):
        error_code = specific_code  # raised with an explicit code, e.g. "token_expired"
    message = str(getattr(exc, "detail", "")) or default_message
    if isinstance(exc, exceptions.NotFound):
        message = default_message
    response.data = {"detail": {"message": message, "error_code": error_code}}
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait:
        response["Retry-After"] = str(int(wait) + 1)
    return response


def _first_code(exc: exceptions.ValidationError) -> str:
    codes = exc.get_codes()
    while isinstance(codes, dict | list):
        codes = next(iter(codes.values()), "invalid") if isinstance(codes, dict) else (codes[0] if codes else "invalid")
    return codes if isinstance(codes, str) and codes not in {"invalid", "required", "null", "blank"} else "invalid"


class Pagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=` (1 to 200); a value that is not one of those is refused, not ignored."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Any) -> int | None:
        _positive_integer(request, self.page_query_param, maximum=MAX_PAGE_NUMBER)
        size = _positive_integer(request, self.page_size_query_param, maximum=self.max_page_size)
        return size or self.page_size


# Far past any list's last page, and short enough that reading it costs nothing (int() of 10,000 digits raises).
MAX_PAGE_NUMBER = 999_999_999


def _positive_integer(request: Any, name: str, *, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum)) else 0
    if not 1 <= value <= maximum:
        raise exceptions.ValidationError({name: [f"Give a whole number from 1 to {maximum}."]})
    return value


def refuse_empty(query: Any, names: Any) -> None:
    """A filter sent empty (`?category=`) is refused, not taken as absent: say what you mean."""
    empty = [name for name in names if name in query and not query[name].strip()]
    if empty:
        raise exceptions.ValidationError({name: ["Leave this out rather than sending it empty."] for name in empty})


def refuse_unknown_fields(data: Any, known: Iterable[str]) -> None:
    """A body field (JSON key, form part or file part) not in `known` is refused (400 `unknown_field`), not dropped."""
    names = list(known)
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UnknownField(unknown, names)


@functools.cache
def form_parts(serializer_class: type[serializers.Serializer]) -> tuple[str, ...]:
    """The parts a multipart form takes: the fields of the serializer that describes it in the schema."""
    return tuple(serializer_class().fields.keys())


@functools.cache
def _single_parts(serializer_class: type[serializers.Serializer]) -> tuple[str, ...]:
    fields = serializer_class().fields.items()
    return tuple(name for name, field in fields if not isinstance(field, serializers.ListField))


def refuse_unknown_parts(data: Any, serializer_class: type[serializers.Serializer]) -> None:
    """A multipart body's parts checked against the form that describes it: a part it does not take is
    refused (400 `unknown_field`), and so is a part that takes one value sent more than once (400
    `repeated_field`: reading only the last would store what the caller may not have meant). Parts
    that are lists in the schema (`files`, `titles`) repeat by design."""
    refuse_unknown_fields(data, form_parts(serializer_class))
    if hasattr(data, "getlist"):
        repeated = {name: count for name in _single_parts(serializer_class) if (count := len(data.getlist(name))) > 1}
        if repeated:
            raise RepeatedField(repeated)


def refuse_unknown_parameters(query: Any, known: Iterable[str]) -> None:
    """A query parameter not in `known` is refused (400 `unknown_parameter`): `?categroy=lab` is not "no filter".
    One given twice (`?category=lab&category=imaging`) is refused too (400 `repeated_parameter`): every
    parameter takes one value, and reading only the last would answer a question the caller did not ask."""
    names = list(known)
    unknown = sorted(set(query) - set(names))
    if unknown:
        raise UnknownParameter(unknown, names)
    counts = {name: len(query.getlist(name)) for name in sorted(query)} if hasattr(query, "getlist") else {}
    repeated = {name: count for name, count in counts.items() if count > 1}
    if repeated:
        raise RepeatedParameter(repeated)


def query_parameter_names(parameters: Iterable[Any]) -> tuple[str, ...]:
    """The query parameters an operation's `extend_schema(parameters=...)` documents, by name:
    an OpenApiParameter in the query, or each field of a serializer given as parameters."""
    names: list[str] = []
    for parameter in parameters:
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY:
                names.append(parameter.name)
        elif isinstance(parameter, type) and issubclass(parameter, serializers.Serializer):
            names += list(parameter().fields.keys())
        else:
            raise TypeError(f"Not a query parameter: {parameter!r}")
    return tuple(names)


class NoFormatOverride(negotiation.DefaultContentNegotiation):
    """The API sends JSON alone, so DRF's `?format=` override is not one of its parameters: sent, it is
    refused like any other unknown parameter (DRF would answer 404 for a format it does not know)."""

    settings = cast(Any, SimpleNamespace(URL_FORMAT_OVERRIDE=None))  # the one setting negotiation reads


class APIView(views.APIView):
    """DRF's APIView, refusing query parameters the operation does not document (400 `unknown_parameter`).

    `query_parameters` maps a method (`"get"`) to the names of its query parameters, made with
    `query_parameter_names` from the same list its `extend_schema(parameters=...)` is given, so
    what is accepted and what the schema lists cannot drift apart (tests/test_openapi.py compares
    them for every operation). A method not listed takes none.

    When: after credentials and throttling (401, 403 and 429 come first). On a route that names no
    object, before the view runs. On a route that names one (`{document_id}`, ...), the view calls
    `check_query_parameters` once it has found the object and checked the caller may act on it, as
    it checks a body: another organisation's record stays 404 and a role's refusal 403 (and
    audited), whatever else the request says. A method the view does not take is left to its 405.
    """

    query_parameters: ClassVar[Mapping[str, Iterable[str]]] = {}
    content_negotiation_class = NoFormatOverride

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = (request.method or "").lower()
        if not kwargs and method in self.http_method_names and hasattr(self, method):
            self.check_query_parameters(request)

    def check_query_parameters(self, request: Request) -> None:
        method = (request.method or "").lower()
        refuse_unknown_parameters(request.query_params, self.query_parameters.get(method, ()))


class MultipartForm(serializers.Serializer):
    """The parts of a multipart form, for the schema (`additionalProperties: false`, quill.openapi): the view
    refuses any other part, and a single-valued part sent twice, with `refuse_unknown_parts(request.data, ...)`."""


class StrictSerializer(serializers.Serializer):
    """A request body whose unknown keys are refused (400 `unknown_field` naming them), not ignored.

    The schema says so with `additionalProperties: false` (quill.openapi)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            refuse_unknown_fields(data, self.fields.keys())
            wrong = {
                name: [problem]
                for name, value in data.items()
                if (problem := _json_type_problem(self.fields[name], value))
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def _json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """DRF turns 1 into "1" and "true" into True; a JSON body must send each value as its own type."""
    if value is None or isinstance(field, serializers.JSONField):
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Send true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Send a whole number."
    if isinstance(
        field, serializers.CharField | serializers.ChoiceField | serializers.DateField | serializers.UUIDField
    ):
        return None if isinstance(value, str) else "Send text."
    return None


# At least five characters once leading and trailing spaces are left out (the services' rule: str.strip()).
# The spaces are spelled out as the ones str.strip() removes, because `\s` differs between Python and the
# schema's ECMA-262 regular expressions (Python's has U+0085 and U+001C-U+001F, ECMA's has U+FEFF): with
# `\s` a reason the schema allows could be refused here, or one refused here allowed by the schema.
_SPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
REASON_PATTERN = rf"^[{_SPACE}]*[^{_SPACE}][\s\S]{{3,}}[^{_SPACE}][{_SPACE}]*$"


def reason_field(*, max_length: int = 2000, help_text: str = "") -> serializers.CharField:
    """Why something is done, recorded in the audit trail: five characters at least, not counting spaces."""
    return serializers.CharField(
        min_length=5,
        max_length=max_length,
        trim_whitespace=False,
        validators=[RegexValidator(REASON_PATTERN, "Say why, in a few words (five characters at least).")],
        help_text=help_text,
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for an address no route matches (``handler404``): under /api/ in the API's shape.

    An id a route's converter refuses (``/api/documents/not-a-uuid/``) never reaches a view,
    so without this an integrator would get an HTML page and no ``error_code``.
    """
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": NotFound().as_detail()}, status=404)
    return defaults.page_not_found(request, exception)
