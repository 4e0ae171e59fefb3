"""Reading the inbox: only the caller's organisation, refusals as NotFound (no existence leak)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.inbox.models import OPEN_STATES, InboxItem, IntakeSource
from quill.errors import NotFound


def _organisation_id(user: User) -> uuid.UUID:
    """A platform account belongs to no clinic: it has no inbox (and learns nothing of one)."""
    if user.organisation_id is None:
        raise NotFound("There is no such inbox item, or it is not yours to see.")
    return user.organisation_id


@dataclass(frozen=True)
class InboxFilters:
    source_id: uuid.UUID | None = None
    state: str = ""


def inbox_items_for(*, user: User, filters: InboxFilters) -> QuerySet[InboxItem]:
    """The organisation's items, newest first; open ones unless a state is asked for."""
    items = InboxItem.objects.filter(organisation_id=_organisation_id(user)).select_related("source", "mail_message")
    items = items.filter(state=filters.state) if filters.state else items.filter(state__in=OPEN_STATES)
    if filters.source_id:
        items = items.filter(source_id=filters.source_id)
    return items.order_by("-received_at", "-id")


def inbox_sources_for(*, user: User) -> QuerySet[IntakeSource]:
    return IntakeSource.objects.filter(organisation_id=_organisation_id(user)).order_by("name")


def inbox_item_get_for(*, user: User, item_id: uuid.UUID | str) -> InboxItem:
    item = (
        InboxItem.objects.filter(organisation_id=_organisation_id(user), pk=item_id)
        .select_related("source", "mail_message")
        .first()
    )
    if item is None:
        raise NotFound("There is no such inbox item, or it is not yours to see.")
    return item
