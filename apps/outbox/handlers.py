"""Registry of outbox handlers: (target, kind) -> function(message) that delivers it.

Apps register their handlers in AppConfig.ready(). A handler raises
RetryableDelivery for passing faults and TerminalDelivery for refusals.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.outbox.models import OutboxMessage


class RetryableDelivery(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, response: dict | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.response = response


class TerminalDelivery(Exception):
    def __init__(self, message: str, *, response: dict | None = None) -> None:
        super().__init__(message)
        self.response = response


Handler = Callable[[OutboxMessage], dict | None]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register(target: str, kind: str, handler: Handler) -> None:
    _HANDLERS[(target, kind)] = handler


def handler_for(target: str, kind: str) -> Handler | None:
    return _HANDLERS.get((target, kind))
