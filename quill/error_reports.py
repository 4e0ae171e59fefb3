"""Error reports (the DEBUG page, the error e-mails to ADMINS) that never show a secret.

Django already hides settings whose names look secret (KEY, PASS, TOKEN, ...); Quill's
secrets also live in URLs (DATABASE_URL, the Redis and broker URLs), in files named by
`_FILE` settings, and in local variables of the frame that failed. Any value that shows a
secret read by quill.secrets is replaced, wherever it appears.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from quill import secrets


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|_URL$|_FILE$", flags=re.I)

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, dict | list | tuple):  # their items were cleansed one by one
            return cleansed
        return self.cleansed_substitute if secrets.contains_secret(cleansed) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, self.cleansed_substitute if secrets.contains_secret(value) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class SecretSafeExceptionReporter(ExceptionReporter):
    """The report's exception message and traceback lines with secrets taken out."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if isinstance(data.get("exception_value"), str):
            data["exception_value"] = secrets.redact(data["exception_value"])
        for frame in data.get("frames", []):
            for key in ("context_line", "exc_cause"):
                if isinstance(frame.get(key), str):
                    frame[key] = secrets.redact(frame[key])
        return data
