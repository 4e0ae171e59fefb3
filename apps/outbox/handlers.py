"""Registry of outbox handlers: (target, kind) -> function(message) that delivers it.

Apps register their handlers in AppConfig.ready(). A handler raises
RetryableDelivery for passing faults and TerminalDelivery for refusals.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.outbox.models import OutboxMessage

Handler = Callable[[OutboxMessage], dict | None]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register(target: str, kind: str, handler: Handler) -> None:
    _HANDLERS[(target, kind)] = handler


def handler_for(target: str, kind: str) -> Handler | None:
    return _HANDLERS.get((target, kind))
