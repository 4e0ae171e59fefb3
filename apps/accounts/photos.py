"""Services for a user's profile photo (the bytes are handled by ``apps.files.photos``)."""

from __future__ import annotations

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.files.photos import photo_replace
from apps.files.spooling import SpooledFile
from quill.errors import PermissionDenied


def user_photo_prefix(user: User) -> str:
    return f"{user.organisation_id or 'platform'}/users/{user.pk}"


def ensure_may_change_user_photo(*, actor: User, user: User) -> None:
    """Your own photo, or a colleague's for administrators and owners; a refusal is audited."""
    if actor.pk == user.pk:
        return
    if actor.is_manager and actor.organisation_id == user.organisation_id:
        return
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=actor,
        reason="role_required",
        object_type="user",
        object_id=user.pk,
        details={"attempted": "user.photo_change"},
    )
    raise PermissionDenied("You may change only your own photo (administrators may change their colleagues').")


def _change(*, actor: User, user: User, spooled: SpooledFile | None, action: Action) -> User:
    photo_replace(
        owner=user,
        prefix=user_photo_prefix(user),
        spooled=spooled,
        check=lambda: ensure_may_change_user_photo(actor=actor, user=user),
        record=lambda change: audit_record(
            action=action,
            actor=actor,
            organisation_id=user.organisation_id,
            object_type="user",
            object_id=user.pk,
            details={"photo": change},
        ),
    )
    return user


def user_photo_set(*, actor: User, user: User, spooled: SpooledFile) -> User:
    return _change(actor=actor, user=user, spooled=spooled, action=Action.USER_PHOTO_CHANGED)


def user_photo_remove(*, actor: User, user: User) -> User:
    return _change(actor=actor, user=user, spooled=None, action=Action.USER_PHOTO_REMOVED)
