"""Project-wide middleware: a request id on every request, log line and response; a public key served locally only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from quill import request_context, secret_key

# fullmatch, not match with "$": "$" also matches before a final newline, which would let
# "id\n" into log lines and audit events.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class RequestIdMiddleware:
    """Accept a well-formed incoming X-Request-ID (1-64 of A-Z a-z 0-9 . _ -) or make one; echo it back.

    It runs first, so the id is checked before any log line or audit event carries it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # read by views and logging
        token = request_context.set_current(
            request_context.RequestFacts(
                request_id=request_id,
                ip=request_context.client_ip(request.META),
                # Written into audit events: no control characters (a NUL would fail the insert).
                user_agent=_CONTROL_CHARACTERS.sub("", request.headers.get("User-Agent", ""))[:512],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class LoopbackOnlyWithPublicKeyMiddleware:
    """With a public or weak secret key, answer only requests made on this computer (quill/secret_key.py).

    Whatever server runs Quill and whatever it binds to: a request from another address, or
    one relayed by a proxy (which says so in X-Forwarded-For or Forwarded), is refused. With a
    proper key this middleware removes itself at start-up.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not secret_key.is_public(settings.SECRET_KEY):
            raise MiddlewareNotUsed()
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        relayed = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
        if relayed or not secret_key.is_loopback(request.META.get("REMOTE_ADDR", "")):
            message = secret_key.refusal(where="to requests from other computers, such as this one")
            return HttpResponse(message, status=403, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
