from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def quill(request: HttpRequest) -> dict:
    return {
        "scanner_disabled": settings.QUILL_SCANNER == "none",
        "embedded_mode": settings.EMBEDDED,
    }
