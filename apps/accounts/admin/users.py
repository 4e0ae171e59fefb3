"""Users in the admin: no superuser grants outside the platform, audited password changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.accounts.admin._base import (
    OrganisationScopedAdmin,
    _is_platform,
    admin_user,
)
from apps.accounts.models import User
from apps.accounts.roles import Role

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

# --- User --------------------------------------------------------------------------------------


class RolesField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Role.choices, required=False, **kwargs)


def _clean_email(form: forms.ModelForm) -> str:
    email = form.cleaned_data["email"].strip().lower()
    if User.objects.filter(email__iexact=email).exclude(pk=form.instance.pk).exists():
        raise forms.ValidationError("A user with this email address already exists.")
    return email


class QuillUserCreationForm(AdminUserCreationForm):
    roles = RolesField()

    class Meta:
        model = User
        fields = ("email", "full_name", "organisation", "roles", "is_staff")

    def clean_email(self) -> str:
        return _clean_email(self)


class QuillUserChangeForm(UserChangeForm):
    roles = RolesField()

    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return _clean_email(self)


@admin.register(User)
class UserAdmin(OrganisationScopedAdmin, DjangoUserAdmin):
    """Email is the login; no username. Superuser, groups and permissions are for superusers only."""

    form = QuillUserChangeForm
    add_form = QuillUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "organisation", "roles_display", "is_staff", "is_active", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "organisation"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ["groups", "user_permissions"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["full_name"]}),
        ("Organisation and roles", {"fields": ["organisation", "roles"]}),
        ("Access", {"fields": ["is_active", "is_staff"]}),
        ("Platform", {"fields": ["is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "email",
                    "full_name",
                    "organisation",
                    "roles",
                    "is_staff",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).select_related("organisation")
        if not _is_platform(request):
            queryset = queryset.filter(is_superuser=False)
        return queryset

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> _FieldsetSpec:
        fieldsets = super().get_fieldsets(request, obj)
        if _is_platform(request):
            return fieldsets
        return [(name, options) for name, options in fieldsets if name != "Platform"]

    def get_form(self, request: HttpRequest, obj: User | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not _is_platform(request):
            for name in ("is_superuser", "groups", "user_permissions"):
                form.base_fields.pop(name, None)
        return form

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.Form, change: bool) -> None:
        if not _is_platform(request):
            user = cast(User, obj)  # this admin edits User rows only
            # Belt and braces: the field is not on the form, but never let it through.
            user.is_superuser = False
            user.organisation_id = admin_user(request).organisation_id
        super().save_model(request, obj, form, change)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            if user is not None:
                self._audit(request, user, "change", {"password": {"before": "(hidden)", "after": "(changed)"}})
        return response

    @admin.display(description="Roles")
    def roles_display(self, obj: User) -> str:
        return ", ".join(obj.roles or []) or "—"
