"""MHD settings in the admin: each organisation's administrators and owners set their own, and see no other's.

The values go into every DocumentReference the organisation serves (``securityLabel``,
``attachment.language``, ``context.facilityType``, ``context.practiceSetting``; see
docs/fhir.md), so a change is audited like any other admin change and checked by
``MhdSettings.clean`` before it is saved.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from apps.accounts.admin._base import OrganisationScopedAdmin
from apps.audit.actions import Action
from apps.audit.security_log import security_log_cross_organisation
from apps.audit.services import audit_denied
from apps.fhir.models import MhdSettings
from apps.fhir.search import as_uuid


@admin.register(MhdSettings)
class MhdSettingsAdmin(OrganisationScopedAdmin):
    list_display = ("organisation", "confidentiality", "language", "facility_type_display", "practice_setting_display")
    list_select_related = ("organisation",)
    fieldsets = (
        (None, {"fields": ("organisation", "confidentiality", "language")}),
        ("ITI-65 Provide Document Bundle", {"fields": ("unknown_patient_to_inbox",)}),
        (
            "Facility type (context.facilityType)",
            {"fields": ("facility_type_system", "facility_type_code", "facility_type_display")},
        ),
        (
            "Practice setting (context.practiceSetting)",
            {"fields": ("practice_setting_system", "practice_setting_code", "practice_setting_display")},
        ),
    )

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> MhdSettings | None:
        """The settings row if this admin lists it; otherwise the admin's "does not exist", audited.

        Unknown and another organisation's rows are refused alike (the caller's chain records
        ``not_found`` for both); another organisation's also goes to the installation's security log.
        """
        found = super().get_object(request, object_id, from_field)
        if found is None:
            organisation_id = as_uuid(object_id)
            owner = (
                MhdSettings.objects.filter(pk=organisation_id).values_list("organisation_id", flat=True).first()
                if organisation_id
                else None
            )
            audit_denied(
                action=Action.ACCESS_DENIED,
                actor=request.user,
                reason="not_found",
                object_type="mhdsettings",
                object_id=str(object_id)[:64],
                details={"attempted": "admin"},
            )
            if owner is not None:
                security_log_cross_organisation(
                    actor=request.user,
                    object_type="mhdsettings",
                    object_id=object_id,
                    owner_organisation_id=owner,
                    attempted="admin.mhdsettings",
                )
        return found

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None):
        # The organisation is the row's key: chosen when the settings are added, never moved.
        return ("organisation",) if obj is not None else ()
