"""Audit events in the admin: read-only, own organisation only (platform superusers see every chain)."""

from __future__ import annotations

from django.contrib import admin

from apps.audit.models import AuditEvent
from quill.admin_site import OrganisationReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(OrganisationReadOnlyAdmin):
    list_display = ("occurred_at", "sequence", "action", "outcome", "actor_username", "patient_id", "object_type", "ip")
    list_filter = ("action", "outcome", "object_type", "occurred_at")
    search_fields = ("actor_username", "action", "object_id", "request_id", "=patient_id")
    date_hierarchy = "occurred_at"
    ordering = ("-occurred_at", "-sequence")
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    list_per_page = 50
    show_full_result_count = False
