"""Reading accounts: colleagues within one organisation, and the user a signed link names."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import ApiToken, User
from apps.audit.security_log import security_log_cross_organisation
from quill.errors import NotFound


def colleague_get_for(*, user: User, user_id: Any) -> User:
    """An active user of `user`'s organisation; anyone else is "not found"."""
    if user.organisation_id is None:
        raise NotFound()
    colleague = User.objects.filter(pk=user_id, organisation_id=user.organisation_id, is_active=True).first()
    if colleague is None:
        # Audited by the denial middleware, alike for any id; which ids are other organisations'
        # users only the installation's security log says.
        owner_organisation_id = User.objects.filter(pk=user_id).values_list("organisation_id", flat=True).first()
        if owner_organisation_id is not None and owner_organisation_id != user.organisation_id:
            security_log_cross_organisation(
                actor=user,
                object_type="user",
                object_id=user_id,
                owner_organisation_id=owner_organisation_id,
                attempted="user.photo",
            )
        raise NotFound()
    return colleague


def user_get(*, user_id: Any) -> User | None:
    """The user with this id (with their organisation), active or not, or None."""
    return User.objects.filter(pk=user_id).select_related("organisation").first()


def api_token_usable_by(*, token_id: Any, user: User) -> bool:
    """Whether the API token is still `user`'s, in their organisation, unrevoked and unexpired."""
    return ApiToken.objects.filter(
        pk=token_id,
        user=user,
        organisation_id=F("user__organisation_id"),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists()


def user_by_email(*, email: str) -> User | None:
    """The user with this (lower-cased) email address, with their organisation, or None."""
    return User.objects.filter(email=email).select_related("organisation").first()


def totp_devices_confirmed(*, user: User) -> list[TOTPDevice]:
    """The authenticator apps `user` has confirmed."""
    return list(TOTPDevice.objects.devices_for_user(user, confirmed=True))


def user_names(ids: list[int]) -> dict[int, str]:
    """People's names by user id (the access report shows names, not sign-in addresses)."""
    return {
        pk: name or email for pk, name, email in User.objects.filter(pk__in=ids).values_list("pk", "full_name", "email")
    }
