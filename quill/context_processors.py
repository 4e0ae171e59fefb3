from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_otp import user_has_device


def quill(request: HttpRequest) -> dict:
    return {
        "scanner_disabled": settings.QUILL_SCANNER == "none",
        "embedded_mode": settings.EMBEDDED,
        "signed_in": _signed_in(request),
    }


def _signed_in(request: HttpRequest) -> bool:
    """Past every sign-in step: password, and TOTP where the user has or needs a device."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    if user.is_verified():
        return True
    return not (user.totp_required() or user_has_device(user, confirmed=True))
