"""Portal gates that apply to every session request: the sliding idle timeout, IP allowlist and TOTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp import user_has_device

from apps.audit.actions import Action
from apps.audit.services import audit_denied
from quill import request_context

_MACHINE_PREFIXES = ("/api/", "/fhir/")
_ALWAYS_OPEN = ("/static/", "/healthz", "/readyz")


def _is_machine_path(path: str) -> bool:
    return path.startswith(_MACHINE_PREFIXES)


REFRESHED_AT = "_quill_refreshed_at"


class SlidingSessionMiddleware:
    """Slide a session's idle timeout, writing the session at most once a refresh interval.

    Saving the session on every request (Django's SESSION_SAVE_EVERY_REQUEST) is one UPDATE
    and one commit per page image, fragment or thumbnail. Here the expiry moves forward only
    when QUILL_SESSION_REFRESH_SECONDS have passed since it last did, so a session ends between
    QUILL_SESSION_IDLE_SECONDS minus that interval and QUILL_SESSION_IDLE_SECONDS after the
    last request. Sits inside SessionMiddleware, which saves what this marks modified.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = request.session
        if not session.is_empty():
            now = int(time.time())
            refreshed_at = session.get(REFRESHED_AT)
            if not isinstance(refreshed_at, int) or now - refreshed_at >= settings.QUILL_SESSION_REFRESH_SECONDS:
                session[REFRESHED_AT] = now
        return response


class IpAllowlistMiddleware:
    """Refuse signed-in users whose address is outside their organisation's allowlist.

    API tokens are checked by ApiTokenAuthentication, because DRF authenticates
    after middleware has run.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.organisation_id and not request.path.startswith(_ALWAYS_OPEN):
            ip = request_context.current().ip
            organisation = user.organisation  # set: organisation_id is
            if organisation is not None and not organisation.allows_ip(ip):
                audit_denied(action=Action.ACCESS_DENIED, actor=user, reason="ip_not_allowed", details={"ip": ip})
                message = "Your network address is not on this organisation's allowlist. Ask your administrator."
                if _is_machine_path(request.path):
                    return JsonResponse({"detail": {"message": message, "error_code": "ip_not_allowed"}}, status=403)
                return render(request, "accounts/ip_refused.html", {"message": message, "ip": ip}, status=403)
        return self.get_response(request)


class TotpRequiredMiddleware:
    """Until a session has passed TOTP (where it is needed), it reaches only sign-in pages.

    Users with a confirmed device must verify a code; administrators, owners,
    superusers (and everyone, where the organisation requires it) must first
    enrol a device.
    """

    OPEN_URL_NAMES = ("accounts:login", "accounts:logout", "accounts:verify_totp", "accounts:enrol_totp")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._open_paths: tuple[str, ...] | None = None

    def _open(self) -> tuple[str, ...]:
        if self._open_paths is None:
            self._open_paths = tuple(reverse(name) for name in self.OPEN_URL_NAMES) + _ALWAYS_OPEN
        return self._open_paths

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        path = request.path
        if not user.is_authenticated or _is_machine_path(path) or path.startswith(self._open()):
            return self.get_response(request)
        if user.is_verified():  # type: ignore[attr-defined]  # django-otp's OTPMiddleware adds it
            return self.get_response(request)
        if user_has_device(user, confirmed=True):
            return redirect(f"{reverse('accounts:verify_totp')}?{urlencode({'next': request.get_full_path()})}")
        if user.totp_required():
            return redirect(reverse("accounts:enrol_totp"))
        return self.get_response(request)
