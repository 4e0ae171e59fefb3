"""API plumbing shared by every app: error shape, pagination, base permissions.

Every API error has the shape {"detail": {"message": ..., "error_code": ...}}.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from quill import request_context
from quill.errors import NotFound, QuillError

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
        return error_response(exc.error_code, exc.message, exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
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
    page_size_query_param = "page_size"
    max_page_size = 200


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for an address no route matches (``handler404``): under /api/ in the API's shape.

    An id a route's converter refuses (``/api/documents/not-a-uuid/``) never reaches a view,
    so without this an integrator would get an HTML page and no ``error_code``.
    """
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": NotFound().as_detail()}, status=404)
    return defaults.page_not_found(request, exception)
