"""MHD settings in the admin: each organisation's administrators and owners set their own, and see no other's.

The values go into every DocumentReference the organisation serves (``securityLabel``,
``attachment.language``, ``context.facilityType``, ``context.practiceSetting``; see
docs/fhir.md), so a change is audited like any other admin change and checked by
``MhdSettings.clean`` before it is saved.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from apps.accounts.admin._base import OrganisationScopedAdmin
from apps.fhir.models import MhdSettings


@admin.register(MhdSettings)
class MhdSettingsAdmin(OrganisationScopedAdmin):
    list_display = ("organisation", "confidentiality", "language", "facility_type_display", "practice_setting_display")
    list_select_related = ("organisation",)
    fieldsets = (
        (None, {"fields": ("organisation", "confidentiality", "language")}),
        (
            "Facility type (context.facilityType)",
            {"fields": ("facility_type_system", "facility_type_code", "facility_type_display")},
        ),
        (
            "Practice setting (context.practiceSetting)",
            {"fields": ("practice_setting_system", "practice_setting_code", "practice_setting_display")},
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        # The organisation is the row's key: chosen when the settings are added, never moved.
        return ("organisation",) if obj is not None else ()
