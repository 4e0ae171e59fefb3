"""Audit events in the admin: read-only, own organisation only (platform superusers see every chain)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "sequence", "action", "outcome", "actor_username", "patient_id", "object_type", "ip")
    list_filter = ("action", "outcome", "object_type", "occurred_at")
    search_fields = ("actor_username", "action", "object_id", "request_id", "=patient_id")
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-sequence")
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest):
        events = super().get_queryset(request)
        if request.user.is_superuser:
            return events
        return events.filter(organisation_id=request.user.organisation_id)

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
