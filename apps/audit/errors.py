"""The audit app's refusals."""

from __future__ import annotations


class AuditFilterInvalid(ValueError):
    """A search filter of the audit log that could not be read; the API answers 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)
