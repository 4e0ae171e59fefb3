"""Break-glass openings in the admin: read-only, for administrators and owners of the organisation.

Patients themselves are changed through the portal and API (their services audit
every change), not here.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.patients.models import BreakGlassAccess


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(admin.ModelAdmin):
    list_display = ("granted_at", "user", "patient", "reason", "expires_at")
    list_filter = ("granted_at",)
    search_fields = ("user__email", "user__full_name", "patient__family_name", "reason")
    date_hierarchy = "granted_at"
    ordering = ("-granted_at",)
    readonly_fields = ("patient", "user", "reason", "granted_at", "expires_at")
    list_select_related = ("user", "patient")

    def get_queryset(self, request: HttpRequest):
        grants = super().get_queryset(request)
        if request.user.is_superuser:
            return grants
        return grants.filter(patient__organisation_id=request.user.organisation_id)

    def _may_read(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or (user.is_staff and user.is_manager))

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
