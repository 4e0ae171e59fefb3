"""Portal sign-in: password, then TOTP (verify, or enrol where it is required)."""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import user_has_device

from apps.accounts.forms import SignInForm, TotpCodeForm
from apps.accounts.selectors import totp_devices_confirmed
from apps.accounts.services import (
    auth_login_failed_record,
    totp_device_confirm,
    totp_device_start,
    user_sign_out_everywhere,
)
from apps.accounts.totp import totp_check
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record
from quill.types import AuthenticatedHttpRequest


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.is_verified():  # type: ignore[attr-defined]  # django-otp adds it
        return redirect(_safe_next(request, reverse("patients:list")))
    form = SignInForm(request, data=request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            auth_login(request, user)
            audit_record(action=Action.AUTH_LOGIN_SUCCEEDED, actor=user, object_type="user", object_id=user.pk)
            next_url = _safe_next(request, reverse("patients:list"))
            if user_has_device(user, confirmed=True):
                return redirect(f"{reverse('accounts:verify_totp')}?next={next_url}")
            if user.totp_required():
                return redirect("accounts:enrol_totp")
            return redirect(next_url)
        auth_login_failed_record(
            email=form.data.get("username", ""), locked_out=getattr(request, "axes_locked_out", False)
        )
        if getattr(request, "axes_locked_out", False):
            return render(request, "accounts/locked_out.html", status=429)
    return render(request, "accounts/login.html", {"form": form, "next": _safe_next(request, "")})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify_totp_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not user_has_device(user, confirmed=True):
        return redirect("accounts:enrol_totp")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = totp_check(totp_devices_confirmed(user=user), form.cleaned_data["code"])
        if check.device is not None:
            otp_login(request, check.device)
            audit_record(action=Action.AUTH_TOTP_VERIFIED, actor=user, object_type="user", object_id=user.pk)
            return redirect(_safe_next(request, reverse("patients:list")))
        audit_record(
            action=Action.AUTH_TOTP_FAILED, actor=user, object_type="user", object_id=user.pk, outcome=Outcome.DENIED
        )
        form.add_error("code", check.message)
    return render(request, "accounts/verify_totp.html", {"form": form, "next": _safe_next(request, "")})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def enrol_totp_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if user_has_device(user, confirmed=True):
        return redirect("accounts:verify_totp")
    device = totp_device_start(actor=user)
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = totp_device_confirm(actor=user, device=device, code=form.cleaned_data["code"])
        if check.ok:
            otp_login(request, device)
            messages.success(request, "Two-step sign-in is set up. You will be asked for a code each time you sign in.")
            return redirect("patients:list")
        form.add_error("code", check.message)
    secret = b32encode(device.bin_key).decode("ascii")
    # A viewBox and no fixed size, so the stylesheet's size scales the whole code instead of cropping it.
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, title="TOTP QR code", omitsize=True)
    context = {"form": form, "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), "qr_svg": qr_svg}
    return render(request, "accounts/enrol_totp.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(action=Action.AUTH_LOGOUT, actor=request.user, object_type="user", object_id=request.user.pk)
    logout(request)
    messages.info(request, "You have signed out.")
    return _signed_out(redirect("accounts:login"))


@login_required
@require_POST
def sign_out_everywhere_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    user_sign_out_everywhere(user=request.user)
    logout(request)
    messages.info(request, "You have been signed out on every device and browser.")
    return _signed_out(redirect("accounts:login"))


def _signed_out(response: HttpResponse) -> HttpResponse:
    """Page images are kept in the browser's private cache while signed in; signing out empties it."""
    response["Clear-Site-Data"] = '"cache"'
    return response
