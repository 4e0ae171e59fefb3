"""Typed domain errors.

Services raise these; the API layer maps them to
``{"detail": {"message": ..., "error_code": ...}}`` with ``http_status``.
The domain never imports the API layer.

Each app keeps its error classes in ``apps/<app>/errors.py``; codes sent without a
class of their own are listed there in ``CODES_WITHOUT_CLASS``. Every code is in
``docs/errors.md`` (``tests/test_error_codes.py`` keeps the two in step).
"""

from __future__ import annotations

import difflib
from typing import Any

# Codes sent without a class (code -> HTTP status): DRF's own exceptions as quill.api and the
# FHIR handler map them (both send the DRF codes below; ParseError differs, see apps.fhir.errors).
CODES_WITHOUT_CLASS: dict[str, int] = {
    "authentication_failed": 401,
    "method_not_allowed": 405,
    "malformed_request": 400,
    "not_acceptable": 406,
    "not_authenticated": 401,
    "throttled": 429,
    "unsupported_media_type": 415,
}


class QuillError(Exception):
    """A refusal a clinician can read and an integrator can branch on."""

    error_code: str = "error"
    http_status: int = 400
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None, **data: Any) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)

    def as_detail(self) -> dict[str, Any]:
        return {"message": self.message, "error_code": self.error_code}


class NotFound(QuillError):
    error_code = "not_found"
    http_status = 404
    default_message = "Not found."


class PermissionDenied(QuillError):
    error_code = "permission_denied"
    http_status = 403
    default_message = "You do not have permission to do this."


class ValidationFailed(QuillError):
    error_code = "invalid"
    http_status = 400
    default_message = "The request is not valid."


class UnknownParameter(ValidationFailed):
    """A query parameter the operation does not take: a misspelt filter must not read as "no filter"."""

    error_code = "unknown_parameter"
    default_message = "The request has a query parameter Quill does not take here."

    def __init__(self, names: list[str], known: list[str]) -> None:
        self.fields = {name: [_unknown_text("parameter", name, known)] for name in names}
        super().__init__(" ".join(text for texts in self.fields.values() for text in texts), fields=self.fields)


class RepeatedParameter(ValidationFailed):
    """A query parameter given more than once: Quill takes one value each, and will not pick one silently."""

    error_code = "repeated_parameter"
    default_message = "The request gives a query parameter more than once."

    def __init__(self, counts: dict[str, int]) -> None:
        self.fields = {
            name: [f"“{name if len(name) <= 60 else name[:60] + '…'}” is given {count} times; give it once."]
            for name, count in counts.items()
        }
        super().__init__(" ".join(text for texts in self.fields.values() for text in texts), fields=self.fields)


class RepeatedField(ValidationFailed):
    """A multipart part that takes one value sent more than once: Quill will not pick one silently."""

    error_code = "repeated_field"
    default_message = "The request gives a form field more than once."

    def __init__(self, counts: dict[str, int]) -> None:
        self.fields = {
            name: [f"“{name if len(name) <= 60 else name[:60] + '…'}” is sent {count} times; send it once."]
            for name, count in counts.items()
        }
        super().__init__(" ".join(text for texts in self.fields.values() for text in texts), fields=self.fields)


class UnknownField(ValidationFailed):
    """A body field (a JSON key or a multipart part) the operation does not take: refused, never dropped."""

    error_code = "unknown_field"
    default_message = "The request has a field Quill does not take here."

    def __init__(self, names: list[str], known: list[str]) -> None:
        self.fields = {name: [_unknown_text("field", name, known)] for name in names}
        super().__init__(" ".join(text for texts in self.fields.values() for text in texts), fields=self.fields)


def _unknown_text(kind: str, name: str, known: list[str]) -> str:
    """ "Quill does not take the parameter “categroy” here. Did you mean “category”? …" for people."""
    shown = name if len(name) <= 60 else name[:60] + "…"
    text = f"Quill does not take the {kind} “{shown}” here."
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        text += f" Did you mean “{close[0]}”?"
    if known:
        text += f" This {'address' if kind == 'parameter' else 'request'} takes: {', '.join(known)}."
    else:
        text += f" This {'address' if kind == 'parameter' else 'request'} takes none."
    return text


class Conflict(QuillError):
    error_code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."


class RequestTimeout(QuillError):
    """The client stopped sending the request body part-way (quill/slow_clients.py)."""

    error_code = "request_timeout"
    http_status = 408
    default_message = "The request stopped arriving before it was complete, so Quill gave up on it. Send it again."


class ServiceUnavailable(QuillError):
    error_code = "service_unavailable"
    http_status = 503
    default_message = "A service Quill depends on is unavailable; please try again shortly."


class InvalidCharacters(ValidationFailed):
    """Text that cannot be stored or compared: a NUL, an unpaired surrogate, or bytes that are not UTF-8.

    PostgreSQL refuses NUL in text and Python cannot encode a lone surrogate, so such a
    value would otherwise fail deep inside a query as a 500. ``where`` names the part of
    the request (``query parameter 'q'``, ``header 'User-Agent'``, ``JSON body``).
    """

    error_code = "invalid_characters"
    default_message = "The request contains characters Quill cannot accept."

    def __init__(self, where: str) -> None:
        super().__init__(
            f"The {where} contains characters Quill cannot accept "
            "(a NUL character, a broken character, or bytes that are not UTF-8 text). "
            "Remove them and send the request again.",
            where=where,
        )
        self.where = where


# --- Internal (no error code): outbound connections -------------------------------------------------


class OAuthUnavailable(Exception):
    """The OAuth2 token endpoint could not be reached or failed (5xx, timeout): try again later (quill/oauth.py)."""


class OAuthRefused(Exception):
    """The token endpoint refused Quill's credentials or scopes (4xx), or the settings are incomplete."""


class TlsFailure(ConnectionError):
    """A TLS handshake or verification failed; the message says why in an operator's words (quill/tls.py)."""
