"""Refusing text Quill cannot store before any view sees it: NUL, lone surrogates, bytes that are not UTF-8.

PostgreSQL refuses NUL in text and psycopg cannot encode a lone surrogate, so such a
value in a search box used to fail deep inside a query as a 500; Django itself turns
bytes that are not UTF-8 into U+FFFD without a word, so a search silently looked for
something else. ``InputGuardMiddleware`` checks the path, headers, cookies and query
string of every request before anything reads them, and the url-encoded or JSON body of
a portal view before the view (and CSRF) parses it; it answers 400 ``invalid_characters``
in the style of the URL's family: ``{"detail": ...}`` under ``/api/``, a page in the
portal, and whatever a family registers with ``answer_under`` (the FHIR app: an
OperationOutcome under ``/fhir/``).

Bodies are checked where they are parsed otherwise: a DRF view's by its parsers
(``quill.parsers``, only if the view parses its body at all), a portal multipart form's
by ``_uploaded_files`` after the view installs the hashing upload handler.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from quill.errors import InvalidCharacters
from quill.portal import render_refusal

logger = logging.getLogger("quill.input")

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME_SHOWN = 40  # characters of a parameter's name quoted in the message
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Responder = Callable[[HttpRequest, InvalidCharacters], HttpResponse]
_responders: dict[str, Responder] = {}


def answer_under(prefix: str, responder: Responder) -> None:
    """Have refusals of requests under `prefix` (a path such as ``/fhir/``) answered by `responder`."""
    _responders[prefix] = responder


# --- checks ----------------------------------------------------------------------------------


def acceptable(text: str) -> bool:
    """No NUL and no unpaired surrogate: text PostgreSQL can store and Python can encode."""
    return "\x00" not in text and _LONE_SURROGATE.search(text) is None


def check_text(text: str, where: str) -> None:
    if not acceptable(text):
        raise InvalidCharacters(where)


def check_data(data: Any, where: str) -> None:
    """Every string in parsed data (mapping keys and values, list items, nested) is acceptable."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            check_text(value, where)
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)


def decoded_utf8(raw: bytes, where: str) -> str:
    try:
        text = raw.decode("utf-8")  # strict: refuses overlong forms and encoded surrogates too
    except UnicodeDecodeError as exc:
        raise InvalidCharacters(where) from exc
    check_text(text, where)
    return text


def _shown(name: str) -> str:
    return name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "…"


def check_urlencoded(raw: bytes, what: str) -> None:
    """A query string or url-encoded form: each name and value, percent-decoded, is UTF-8 without NUL."""
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        shown = _shown(decoded_utf8(unquote_to_bytes(name.replace(b"+", b" ")), f"name of a {what}"))
        decoded_utf8(unquote_to_bytes(value.replace(b"+", b" ")), f"{what} '{shown}'")


def _wire_bytes(text: str) -> bytes:
    """The bytes a server handed over as text: WSGI gives latin-1 strings, ASGI decoded UTF-8."""
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def check_request(request: HttpRequest) -> None:
    """Raise InvalidCharacters naming the first unacceptable part of `request` (its body aside)."""
    check_text(request.path_info, "address")
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            raise InvalidCharacters(f"header '{key[5:].replace('_', '-').title()}'")
    for name, value in request.COOKIES.items():
        check_text(name, "name of a cookie")
        check_text(value, f"cookie '{_shown(name)}'")
    check_urlencoded(_wire_bytes(request.META.get("QUERY_STRING", "")), "query parameter")


def check_body(request: HttpRequest) -> None:
    """Raise InvalidCharacters for a url-encoded or JSON body that is unacceptable (if small enough to read)."""
    if request.method not in _BODY_METHODS:
        return
    content_type = (request.content_type or "").lower()
    form = content_type == "application/x-www-form-urlencoded"
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not (form or is_json):
        return  # multipart and raw uploads: checked where they are parsed
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if not 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return  # Django refuses a larger body itself when it is read
    if form:
        check_urlencoded(request.body, "form field")
        return
    text = decoded_utf8(request.body, "JSON body")
    try:
        parsed = json.loads(text)
    except ValueError:
        return  # not JSON at all: the parser answers malformed_request
    check_data(parsed, "JSON body")


# --- answers ---------------------------------------------------------------------------------


def refusal_response(request: HttpRequest, refusal: InvalidCharacters) -> HttpResponse:
    """The refusal in the style of the URL's family."""
    for prefix, responder in _responders.items():
        if request.path_info.startswith(prefix):
            return responder(request, refusal)
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": refusal.as_detail()}, status=refusal.http_status)
    return render_refusal(request, refusal.message, refusal.http_status, title="Not possible")


class InputGuardMiddleware:
    """Answer 400 ``invalid_characters`` to a request carrying text Quill cannot store (see module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            check_request(request)
        except InvalidCharacters as refusal:
            return _refused(request, refusal)
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
        """The body, once the view is known: a DRF view's own parsers check it (quill/parsers.py)."""
        if hasattr(getattr(view, "cls", None), "parser_classes"):  # DRF's as_view() sets view.cls
            return None
        try:
            check_body(request)
        except InvalidCharacters as refusal:
            return _refused(request, refusal)
        return None


def _refused(request: HttpRequest, refusal: InvalidCharacters) -> HttpResponse:
    logger.info("refused a request with invalid characters", extra={"where": refusal.where})
    return refusal_response(request, refusal)
