"""Organisations (clinics), users and their roles, and integrators' API tokens."""

from __future__ import annotations

import ipaddress
import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.accounts.roles import CLINICAL_ROLES, MANAGING_ROLES, TOTP_REQUIRED_ROLES, Role


def validate_cidr_list(value: list) -> None:
    if not isinstance(value, list):
        raise ValidationError("Enter a list of network ranges such as 192.0.2.0/24.")
    for entry in value:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError as exc:
            raise ValidationError(f"{entry!r} is not a network range such as 192.0.2.0/24.") from exc


class Organisation(models.Model):
    """A clinic. Every patient, document, letter, token and audit event belongs to one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True, help_text="Postal address, shown on letterheads.")
    require_totp_for_all = models.BooleanField(
        default=False, help_text="Require every user of this organisation to sign in with a TOTP code."
    )
    ip_allowlist = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_cidr_list],
        help_text="Network ranges (CIDR) allowed to reach Quill for this organisation; empty allows all.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allows_ip(self, ip: str) -> bool:
        if not self.ip_allowlist:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(str(cidr), strict=False) for cidr in self.ip_allowlist)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in; email is the login. Platform superusers may have no organisation."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    roles = models.JSONField(default=list, blank=True, help_text="Any of: clinician, billing, administrator, owner.")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    session_generation = models.PositiveIntegerField(
        default=0, help_text="Raised by 'sign out everywhere'; ends every session signed with an older value."
    )
    photo_key = models.CharField(max_length=300, blank=True)
    avatar_key = models.CharField(max_length=300, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        unknown = set(self.roles or []) - set(Role.values)
        if unknown:
            raise ValidationError({"roles": f"Unknown roles: {', '.join(sorted(unknown))}."})
        if not self.is_superuser and self.organisation_id is None:
            raise ValidationError(
                {"organisation": "Every user except a platform superuser belongs to an organisation."}
            )

    def has_role(self, *roles: str) -> bool:
        return bool(set(self.roles or []) & set(roles))

    @property
    def is_clinical(self) -> bool:
        return self.has_role(*CLINICAL_ROLES)

    @property
    def is_manager(self) -> bool:
        return self.has_role(*MANAGING_ROLES)

    @property
    def is_billing_only(self) -> bool:
        return self.has_role(Role.BILLING) and not self.is_clinical

    def totp_required(self) -> bool:
        if self.is_superuser or self.has_role(*TOTP_REQUIRED_ROLES):
            return True
        return self.organisation is not None and self.organisation.require_totp_for_all

    def get_session_auth_hash(self) -> str:
        # Including the generation makes every existing session invalid at once
        # when it is raised ("sign out everywhere").
        return salted_hmac(
            "quill.accounts.session",
            f"{self.password}:{self.session_generation}",
            algorithm="sha256",
        ).hexdigest()


class ApiToken(models.Model):
    """An integrator's token. Only a SHA-256 of the key is stored; the key is shown once."""

    PREFIX_LENGTH = 8

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="What the token is for, e.g. 'EHR integration'.")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="api_tokens")
    prefix = models.CharField(max_length=PREFIX_LENGTH, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
