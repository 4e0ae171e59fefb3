"""Typed domain errors.

Services raise these; the API layer maps them to
``{"detail": {"message": ..., "error_code": ...}}`` with ``http_status``.
The domain never imports the API layer.
"""

from __future__ import annotations

from typing import Any


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


class Conflict(QuillError):
    error_code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."


class ServiceUnavailable(QuillError):
    error_code = "service_unavailable"
    http_status = 503
    default_message = "A service Quill depends on is unavailable; please try again shortly."
