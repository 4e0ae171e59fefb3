"""Structured logging: one JSON object per line in production, with the request id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from quill import request_context, secrets


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_context.current().request_id or "-"
        return True


class SecretRedactingFilter(logging.Filter):
    """Takes every secret Quill read (quill.secrets) out of the message and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = secrets.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = secrets.redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    _RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "request_id", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_text:  # already redacted by SecretRedactingFilter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = secrets.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)
