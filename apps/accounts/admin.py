"""Django admin for organisations, users and API tokens.

Platform superusers see everything. An organisation's administrators and owners
(staff users without superuser) see and change only their own organisation's
rows and can never grant superuser. Every change made here is audited as
`admin.change` in the same transaction as the change (the admin wraps its
views in one); tokens are created and revoked through the account services,
which audit them as `token.created` and `token.revoked`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.accounts.models import ApiToken, Organisation, User, validate_cidr_list
from apps.accounts.roles import Role
from apps.accounts.services import api_token_create, api_token_revoke
from apps.audit.actions import Action
from apps.audit.services import audit_record

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
    diff = {}
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
        audit_record(
            action=Action.ADMIN_CHANGE,
            actor=request.user,
            organisation_id=self.organisation_id_of(obj),
            object_type=obj._meta.model_name,
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


def _is_platform(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


def _is_org_manager(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.organisation_id and user.is_manager)


class OrganisationScopedAdmin(AuditedModelAdmin):
    """Administrators and owners manage their own organisation's rows; superusers manage all.

    Access comes from the user's roles, not from Django model permissions, so a
    new administrator needs no permission set-up.
    """

    organisation_lookup = "organisation"
    allow_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if _is_platform(request):
            return queryset
        if not _is_org_manager(request):
            return queryset.none()
        return queryset.filter(**{self.organisation_lookup: request.user.organisation_id})

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
        return obj is None or str(self.organisation_id_of(obj)) == str(request.user.organisation_id)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if not _is_platform(request):
            if db_field.related_model is Organisation:
                kwargs["queryset"] = Organisation.objects.filter(pk=request.user.organisation_id)
            elif db_field.related_model is User:
                kwargs["queryset"] = User.objects.filter(organisation_id=request.user.organisation_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
    def user_count(self, obj: Organisation) -> int:
        return obj._user_count


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

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> list:
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

    def save_model(self, request: HttpRequest, obj: User, form: forms.Form, change: bool) -> None:
        if not _is_platform(request):
            # Belt and braces: the field is not on the form, but never let it through.
            obj.is_superuser = False
            obj.organisation_id = request.user.organisation_id
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

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
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

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.Form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
            created_by=request.user,
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
            api_token_revoke(token=token, revoked_by=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s). They stop working on their next request.")

    @admin.display(description="Prefix", ordering="prefix")
    def prefix_display(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"
