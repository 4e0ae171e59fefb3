"""Organisations in the admin, with their IP allowlist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.admin._base import (
    OrganisationScopedAdmin,
    _is_platform,
)
from apps.accounts.models import Organisation, validate_cidr_list

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _UserCount(TypedDict):
    _user_count: int  # OrganisationAdmin.get_queryset annotates it


# --- Organisation ------------------------------------------------------------------------------


class CidrListField(forms.Field):
    """A list of network ranges, typed one per line (or separated by commas)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40, "placeholder": "192.0.2.0/24"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value or ""

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return [str(item).strip() for item in value]
        text = (value or "").replace(",", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        validate_cidr_list(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


class OrganisationAdminForm(forms.ModelForm):
    ip_allowlist = CidrListField(
        required=False,
        label="IP allowlist",
        help_text="Network ranges (CIDR), one per line, allowed to reach Quill for this organisation. "
        "Leave empty to allow every address.",
    )

    class Meta:
        model = Organisation
        fields = ["name", "address", "require_totp_for_all", "ip_allowlist"]
        labels = {"require_totp_for_all": "Require TOTP for all users"}


@admin.register(Organisation)
class OrganisationAdmin(OrganisationScopedAdmin):
    form = OrganisationAdminForm
    organisation_lookup = "pk"
    list_display = ["name", "require_totp_for_all", "allowlist_summary", "user_count", "created_at"]
    list_filter = ["require_totp_for_all"]
    search_fields = ["name"]
    ordering = ["name"]  # explicit: the user count's GROUP BY drops the model's default ordering
    readonly_fields = ["id", "created_at"]
    fields = ["id", "name", "address", "require_totp_for_all", "ip_allowlist", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_user_count=models.Count("users"))

    def organisation_id_of(self, obj: models.Model) -> Any:
        return obj.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_platform(request)  # clinics are set up by the platform

    @admin.display(description="IP allowlist")
    def allowlist_summary(self, obj: Organisation) -> str:
        return ", ".join(obj.ip_allowlist) if obj.ip_allowlist else "any address"

    @admin.display(description="Users", ordering="_user_count")
    def user_count(self, obj: WithAnnotations[Organisation, _UserCount]) -> int:
        return obj._user_count
