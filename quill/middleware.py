"""Project-wide middleware: a request id on every request, log line and response."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from quill import request_context

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
