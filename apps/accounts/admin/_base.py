"""What every accounts admin shares: the `admin.change` audit and organisation scoping."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.models import Organisation, User
from apps.audit.actions import Action
from apps.audit.services import audit_record
from quill.admin_site import OrganisationTenancy

_HIDDEN_VALUES = {"password"}  # recorded as changed, never with their values


# --- Audit -------------------------------------------------------------------------------------


def _audit_value(value: Any) -> Any:
    """A JSON-safe, readable form of a form value for the audit log."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, QuerySet):
        return sorted(str(item.pk) for item in value)
    if isinstance(value, list | tuple | set):
        return [_audit_value(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def form_changes(form: forms.Form, *, adding: bool) -> dict[str, dict[str, Any]]:
    """The fields the form changed, as {"field": {"before": x, "after": y}}."""
    diff: dict[str, dict[str, Any]] = {}
    for name in form.changed_data:
        if name in _HIDDEN_VALUES or name.startswith("password"):
            diff["password"] = {"before": "(hidden)", "after": "(changed)"}
            continue
        before = None if adding else _audit_value(form.initial.get(name))
        after = _audit_value(form.cleaned_data.get(name))
        if before != after:
            diff[name] = {"before": before, "after": after}
    return diff


class AuditedModelAdmin(admin.ModelAdmin):
    """Records every add, change and delete made through the admin as an `admin.change` event."""

    def _audit(self, request: HttpRequest, obj: models.Model, operation: str, changes: dict) -> None:
        object_type = obj._meta.model_name
        assert object_type is not None, "Django names every model class"
        audit_record(
            action=Action.ADMIN_CHANGE,
            actor=request.user,
            organisation_id=self.organisation_id_of(obj),
            object_type=object_type,
            object_id=obj.pk,
            details={"operation": operation, "object": str(obj), "changes": changes},
        )

    def organisation_id_of(self, obj: models.Model) -> Any:
        return getattr(obj, "organisation_id", None)

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.Form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self._audit(request, obj, "change" if change else "add", form_changes(form, adding=not change))

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self._audit(request, obj, "delete", {})
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self._audit(request, obj, "delete", {})
        super().delete_queryset(request, queryset)


# --- Organisation scoping ----------------------------------------------------------------------


def admin_user(request: HttpRequest) -> User:
    """The signed-in user of an admin request.

    The admin site serves only active staff (``AdminSite.has_permission``), so past its gate
    ``request.user`` is a ``User``; the ``ModelAdmin`` signatures still say ``HttpRequest``.
    """
    return cast(User, request.user)


def _organisation_id(request: HttpRequest) -> uuid.UUID:
    """The organisation a non-platform admin manages.

    Outside the platform only organisation managers pass ``has_*_permission``, and
    ``_is_org_manager`` requires an organisation, so every caller past that gate has one.
    """
    organisation_id = admin_user(request).organisation_id
    assert organisation_id is not None, "only organisation managers reach this"
    return organisation_id


def _is_platform(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _is_org_manager(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.organisation_id and user.is_manager)


class OrganisationScopedAdmin(OrganisationTenancy, AuditedModelAdmin):
    """Administrators and owners manage their own organisation's rows; superusers manage all.

    Access comes from the user's roles, not from Django model permissions, so a
    new administrator needs no permission set-up. Filters, lookups and form choices
    are limited to the same organisation (`OrganisationTenancy`).
    """

    organisation_lookup = "organisation"
    allow_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if _is_platform(request):
            return queryset
        if not _is_org_manager(request):
            return queryset.none()
        return queryset.filter(**{self.organisation_lookup: admin_user(request).organisation_id})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_platform(request) or _is_org_manager(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_manage(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_platform(request) or _is_org_manager(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.allow_delete and _is_platform(request)

    def _may_manage(self, request: HttpRequest, obj: models.Model | None) -> bool:
        if _is_platform(request):
            return True
        if not _is_org_manager(request):
            return False
        return obj is None or str(self.organisation_id_of(obj)) == str(admin_user(request).organisation_id)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if not _is_platform(request):
            if db_field.related_model is Organisation:
                kwargs["queryset"] = Organisation.objects.filter(pk=_organisation_id(request))
            elif db_field.related_model is User:
                kwargs["queryset"] = User.objects.filter(organisation_id=_organisation_id(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
