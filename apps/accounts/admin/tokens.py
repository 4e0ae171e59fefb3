"""API tokens in the admin: created and revoked through the account services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.admin._base import (
    OrganisationScopedAdmin,
    _is_platform,
    admin_user,
)
from apps.accounts.models import ApiToken, User
from apps.accounts.services import api_token_create, api_token_revoke

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldGroups

# --- API tokens --------------------------------------------------------------------------------


class ApiTokenAddForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        initial=settings.QUILL_API_TOKEN_DAYS,
        label="Valid for (days)",
        help_text="The token stops working after this many days.",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name"]
        help_texts = {"user": "The token acts as this user, within the user's organisation."}


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("usable", "Usable"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "usable":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(OrganisationScopedAdmin):
    """Tokens are created through `api_token_create` (key shown once) and revoked, never deleted."""

    list_display = ["name", "prefix_display", "user", "organisation", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [TokenStatusFilter, "organisation"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user", "organisation"]
    actions = ["revoke_tokens"]
    readonly_fields = [
        "prefix_display",
        "user",
        "organisation",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = ["name", *readonly_fields]

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
            kwargs["fields"] = ["user", "name", "days"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> _FieldGroups:
        return ["user", "name", "days"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user" and _is_platform(request):
            kwargs["queryset"] = User.objects.filter(organisation__isnull=False, is_active=True)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user":
            field.queryset = field.queryset.filter(is_active=True).select_related("organisation")
        return field

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.Form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            actor=admin_user(request),
        )
        # The admin goes on to use `obj` (log entry, redirect), so make it the created row.
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        obj._state.db = token._state.db
        messages.warning(
            request,
            f"Copy this API token key now; it is shown only once and cannot be recovered: {key}",
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=admin_user(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s). They stop working on their next request.")

    @admin.display(description="Prefix", ordering="prefix")
    def prefix_display(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"
