"""Reading accounts: colleagues within one organisation, and the user a signed link names."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from quill.errors import NotFound


def colleague_get_for(*, user: User, user_id: Any) -> User:
    """An active user of `user`'s organisation; anyone else is "not found"."""
    if user.organisation_id is None:
        raise NotFound()
    colleague = User.objects.filter(pk=user_id, organisation_id=user.organisation_id, is_active=True).first()
    if colleague is None:
        raise NotFound()
    return colleague


def active_user_get(*, user_id: Any) -> User | None:
    """The active user with this id (with their organisation), or None."""
    return User.objects.filter(pk=user_id, is_active=True).select_related("organisation").first()
