"""Services that change accounts: tokens, sign-out everywhere, TOTP enrolment, organisations and users."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import ApiToken, Organisation, User
from apps.accounts.selectors import user_by_email
from apps.accounts.totp import TotpCheck, totp_check
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record

TOKEN_PREFIX = "qk_"  # noqa: S105 (a public marker, not a secret)


def hash_token_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_create(
    *, user: User, name: str, days: int | None = None, actor: User | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user` in the user's organisation; return it and the key, shown once."""
    if user.organisation_id is None:
        raise ValueError("API tokens belong to an organisation; this user has none.")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = timedelta(days=days if days is not None else settings.QUILL_API_TOKEN_DAYS)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            user=user,
            organisation_id=user.organisation_id,
            prefix=key[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + ApiToken.PREFIX_LENGTH],
            key_hash=hash_token_key(key),
            expires_at=timezone.now() + lifetime,
        )
        audit_record(
            action=Action.TOKEN_CREATED,
            actor=actor or user,
            organisation_id=user.organisation_id,
            object_type="api_token",
            object_id=token.pk,
            details={"name": name, "for_user": user.email, "expires_at": token.expires_at.isoformat()},
        )
    return token, key


def api_token_revoke(*, token: ApiToken, actor: User | None) -> ApiToken:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db()
        if updated:
            audit_record(
                action=Action.TOKEN_REVOKED,
                actor=actor,
                organisation_id=token.organisation_id,
                object_type="api_token",
                object_id=token.pk,
                details={"name": token.name, "for_user": token.user.email},
            )
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record last use, at most once a minute per token to keep the hot path cheap."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(seconds=60):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def user_sign_out_everywhere(*, user: User) -> None:
    """End every session of `user` at once (each session's auth hash stops matching)."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
        user.refresh_from_db(fields=["session_generation"])
        audit_record(action=Action.AUTH_SIGN_OUT_EVERYWHERE, actor=user, object_type="user", object_id=user.pk)


def organisation_create(*, name: str, address: str = "", require_totp_for_all: bool = False) -> Organisation:
    organisation = Organisation(name=name, address=address, require_totp_for_all=require_totp_for_all)
    organisation.full_clean()
    organisation.save()
    return organisation


def user_create(
    *,
    email: str,
    full_name: str,
    password: str,
    organisation: Organisation | None,
    roles: list[str],
    actor: User | None = None,
) -> User:
    """Create a user; the password must pass the configured validators."""
    from django.contrib.auth.password_validation import validate_password

    candidate = User(email=email.lower(), full_name=full_name, organisation=organisation, roles=roles)
    validate_password(password, user=candidate)
    with transaction.atomic():
        user = User.objects.create_user(
            email=email,
            password=password,
            full_name=full_name,
            organisation=organisation,
            roles=roles,
            is_staff=bool(set(roles) & {"administrator", "owner"}),
        )
        audit_record(
            action=Action.USER_CREATED,
            actor=actor,
            organisation_id=organisation.pk if organisation else None,
            object_type="user",
            object_id=user.pk,
            details={"email": user.email, "roles": roles},
        )
    return user


def user_set_password(*, user: User, password: str, actor: User | None = None) -> User:
    """Set a new password; it must pass the configured validators. Ends the user's other sessions."""
    from django.contrib.auth.password_validation import validate_password

    validate_password(password, user=user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(
            action=Action.USER_PASSWORD_CHANGED,
            actor=actor,
            organisation_id=user.organisation_id,
            object_type="user",
            object_id=user.pk,
            details={"email": user.email},
        )
    return user


def totp_device_start(*, actor: User) -> TOTPDevice:
    """The authenticator device `actor` is enrolling (unconfirmed), made on their first visit."""
    device = TOTPDevice.objects.filter(user=actor, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=actor, name="Authenticator app", confirmed=False)
    return device


def totp_device_confirm(*, actor: User, device: TOTPDevice, code: str) -> TotpCheck:
    """Confirm the device with a current code (audited `auth.totp.enrolled`); a refused code is audited too."""
    check = totp_check([device], code)
    if check.ok:
        with transaction.atomic():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(action=Action.AUTH_TOTP_ENROLLED, actor=actor, object_type="totp_device", object_id=device.pk)
        return check
    audit_record(
        action=Action.AUTH_TOTP_FAILED,
        actor=actor,
        object_type="totp_device",
        object_id=device.pk,
        outcome=Outcome.DENIED,
    )
    return check


def auth_login_failed_record(*, email: str, locked_out: bool) -> None:
    """Audit a refused sign-in (bad credentials, or a lockout), naming the account tried when it exists."""
    email = (email or "").strip().lower()[:254]
    known = user_by_email(email=email)
    audit_record(
        action=Action.AUTH_LOCKOUT if locked_out else Action.AUTH_LOGIN_FAILED,
        actor=None,
        actor_username=email,
        organisation_id=known.organisation_id if known else None,
        object_type="user",
        object_id=known.pk if known else "",
        outcome=Outcome.DENIED,
        details={"reason": "locked_out" if locked_out else "bad_credentials"},
    )
