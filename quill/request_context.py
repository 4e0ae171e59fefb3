"""Per-request facts (request id, client IP, user agent) for logs and audit events.

Set by RequestIdMiddleware; Celery tasks and commands run with empty values
unless they set their own.
"""

from __future__ import annotations

import contextvars
import ipaddress
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RequestFacts:
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""


_current: contextvars.ContextVar[RequestFacts] = contextvars.ContextVar("quill_request", default=RequestFacts())  # noqa: B039 (frozen)


def current() -> RequestFacts:
    return _current.get()


def set_current(facts: RequestFacts) -> contextvars.Token:
    return _current.set(facts)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def client_ip(meta: dict) -> str:
    """The client's address: REMOTE_ADDR, or the hop QUILL_PROXY_COUNT proxies back in X-Forwarded-For."""
    proxies = settings.QUILL_PROXY_COUNT
    candidate = meta.get("REMOTE_ADDR", "")
    if proxies:
        hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return ""


# The error_code of the refusal a request was answered with, noted by the handlers that turn
# refusals into responses (quill.api, quill.portal, the FHIR views) for the denial audit
# (apps/audit/middleware.py). A list, so a note made where the context was copied still counts.
_refusals: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("quill_refusals", default=None)


def refusals_begin() -> contextvars.Token:
    return _refusals.set([])


def refusals_end(token: contextvars.Token) -> None:
    _refusals.reset(token)


def note_refusal(error_code: str) -> None:
    noted = _refusals.get()
    if noted is not None:
        noted.append(error_code)


def noted_refusal() -> str:
    """The last refusal noted in this request, or ""."""
    noted = _refusals.get()
    return noted[-1] if noted else ""
