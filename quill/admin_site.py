"""The Django admin requires a TOTP-verified session (django-otp's OTPAdminSite).

Signing in happens on the portal's sign-in page, so there is one audited,
lockout-protected way in.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class QuillAdminSite(OTPAdminSite):
    site_header = "Quill administration"
    site_title = "Quill admin"
    index_title = "Administration"

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")
