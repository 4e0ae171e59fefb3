"""What an outbox handler raises: a passing fault (retried with backoff) or a refusal (dead letter).

Neither reaches a client; the relay records them on the ``OutboxMessage``.
"""

from __future__ import annotations


class RetryableDelivery(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None, response: dict | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.response = response


class TerminalDelivery(Exception):
    def __init__(self, message: str, *, response: dict | None = None) -> None:
        super().__init__(message)
        self.response = response
