"""Break-glass openings in the admin: read-only, for administrators and owners of the organisation.

Patients themselves are changed through the portal and API (their services audit
every change), not here.
"""

from __future__ import annotations

from django.contrib import admin

from apps.patients.models import BreakGlassAccess
from quill.admin_site import OrganisationReadOnlyAdmin


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(OrganisationReadOnlyAdmin):
    list_display = ("granted_at", "user", "patient", "reason", "expires_at")
    list_filter = ("granted_at",)
    search_fields = ("user__email", "user__full_name", "patient__family_name", "reason")
    date_hierarchy = "granted_at"
    ordering = ("-granted_at",)
    readonly_fields = ("patient", "user", "reason", "granted_at", "expires_at")
    list_select_related = ("user", "patient")
    organisation_lookup = "patient__organisation_id"
