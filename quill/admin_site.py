"""The Django admin requires a TOTP-verified session (django-otp's OTPAdminSite).

Signing in happens on the portal's sign-in page, so there is one audited,
lockout-protected way in.

Tenancy: an organisation's administrators and owners see their own organisation's rows
and nothing of any other, filters, lookups and form choices included. Quill's own
ModelAdmins inherit `OrganisationTenancy` (through `OrganisationReadOnlyAdmin` here or
`OrganisationScopedAdmin` in accounts), which limits every list filter, autocomplete,
raw-id lookup and foreign-key choice to what the related model's own admin lists for
the user. Every other admin (Django's groups, django-otp's devices, django-axes' logs,
anything an app adds later) is for platform superusers only (`restrict_other_admins`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
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


# --- Tenancy ---------------------------------------------------------------------------------


class ScopedAllValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter offers a related model's values from every row (for a path
    such as ``user__email``); this one offers only the values of the rows the admin lists."""

    def __init__(self, field, request, params, model, model_admin, field_path) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        listed = model_admin.get_queryset(request)
        self.lookup_choices = listed.distinct().order_by(field_path).values_list(field_path, flat=True)


def scoped_list_filter(model: type[Model], entry: Any) -> Any:
    """`entry` of a ``list_filter``, its choices limited to the rows the admin lists.

    A relation's filter (``"organisation"``) would offer every row of the related table, and
    an "all values" filter across a relation every value in it; both become their scoped
    forms. Filters with fixed choices (booleans, dates, choices, SimpleListFilters) stay.
    """
    if isinstance(entry, tuple):
        path, filter_class = entry
        if issubclass(filter_class, admin.RelatedFieldListFilter):
            return (path, admin.RelatedOnlyFieldListFilter)
        if issubclass(filter_class, admin.AllValuesFieldListFilter):
            return (path, ScopedAllValuesFieldListFilter)
        return entry
    if not isinstance(entry, str):
        return entry
    field = get_fields_from_path(model, entry)[-1]
    if field.is_relation:
        return (entry, admin.RelatedOnlyFieldListFilter)
    fixed = field.choices or field.get_internal_type() in {"BooleanField", "DateField", "DateTimeField"}
    if "__" in entry and not fixed:
        return (entry, ScopedAllValuesFieldListFilter)
    return entry


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id field that names an object beside the id only if the admin user may see it
    (Django looks any id up, so typing ids would reveal other organisations' names)."""

    def __init__(self, rel, admin_site, *, visible: QuerySet, **kwargs: Any) -> None:
        super().__init__(rel, admin_site, **kwargs)
        self.visible = visible

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            if not self.visible.filter(**{key: value}).exists():
                return "", ""
        except (ValueError, ValidationError):
            return "", ""
        return super().label_and_url_for_value(value)


def _is_platform(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class OrganisationTenancy(admin.ModelAdmin):
    """Filters, lookups and form choices limited to what the user may see in the admin.

    The subclass limits its own rows (``get_queryset``); this limits everything that shows
    rows of *other* models: a related model's rows are those its own admin lists for this
    user (and none, outside the platform, when it has no admin). Autocomplete and raw-id
    lookup pop-ups are that related admin's own views, so they are limited by its
    ``get_queryset`` already.
    """

    def get_list_filter(self, request: HttpRequest):
        return [scoped_list_filter(self.model, entry) for entry in super().get_list_filter(request)]

    def related_rows(self, request: HttpRequest, model: type[Model]) -> QuerySet:
        """The rows of `model` this user may see in the admin."""
        try:
            related_admin = self.admin_site.get_model_admin(model)
        except NotRegistered:
            return model._default_manager.all() if _is_platform(request) else model._default_manager.none()
        return related_admin.get_queryset(request)

    def get_field_queryset(self, db, db_field, request: HttpRequest):
        # The related admin's get_queryset is ordered as its list is, which is all Django's does here.
        return self.related_rows(request, db_field.remote_field.model).using(db)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name in self.raw_id_fields and "widget" not in kwargs:
            kwargs["widget"] = ScopedRawIdWidget(
                db_field.remote_field,
                self.admin_site,
                visible=self.related_rows(request, db_field.remote_field.model),
                using=kwargs.get("using"),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PlatformOnlyAdmin(admin.ModelAdmin):
    """For platform superusers only, whatever Django permissions anyone else holds."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_platform(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_platform(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _is_platform(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_platform(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_platform(request) and super().has_delete_permission(request, obj)


def restrict_other_admins(site: admin.AdminSite) -> None:
    """Make every admin not written for Quill's tenancy (third-party apps') platform-only."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, OrganisationTenancy | PlatformOnlyAdmin):
            continue
        site.unregister(model)
        restricted = type(f"PlatformOnly{type(model_admin).__name__}", (PlatformOnlyAdmin, type(model_admin)), {})
        site.register(model, restricted)


class OrganisationReadOnlyAdmin(OrganisationTenancy):
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
