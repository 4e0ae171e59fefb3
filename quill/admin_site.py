"""The Django admin requires a TOTP-verified session (django-otp's OTPAdminSite).

Signing in happens on the portal's sign-in page, so there is one audited,
lockout-protected way in.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from apps.audit.actions import Action
from apps.audit.services import audit_denied
from quill.portal import render_refusal


class QuillAdminSite(OTPAdminSite):
    site_header = "Quill administration"
    site_title = "Quill admin"
    index_title = "Administration"

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Where the admin sends whoever it does not let in.

        Someone not signed in, or an administrator whose session has not passed the code,
        goes to the portal's sign-in page. Someone signed in whose role has no admin
        (billing, a clinician) is told so, and the refusal is audited; sending them to a
        sign-in form they have already passed explains nothing.
        """
        next_url = request.GET.get("next") or reverse("admin:index")
        user = request.user
        may_administer = user.is_superuser or (user.is_staff and getattr(user, "is_manager", False))
        if user.is_authenticated and not may_administer:
            audit_denied(
                action=Action.ACCESS_DENIED,
                actor=user,
                reason="role_required",
                details={"attempted": "admin", "path": next_url[:200]},
            )
            message = "The administration pages are for administrators and owners; your role does not include them."
            return render_refusal(request, message, 403)
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")


class OrganisationReadOnlyAdmin(admin.ModelAdmin):
    """A read-only admin list for an organisation's administrators and owners.

    Platform superusers see every organisation's rows; staff managers see their
    own organisation's rows (found through `organisation_lookup`); nobody adds,
    changes or deletes here.
    """

    organisation_lookup = "organisation_id"

    def _may_read(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or (user.is_staff and user.is_manager))

    def get_queryset(self, request: HttpRequest):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        if not self._may_read(request):
            return rows.none()
        return rows.filter(**{self.organisation_lookup: request.user.organisation_id})  # type: ignore[union-attr]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_read(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_read(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
