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
