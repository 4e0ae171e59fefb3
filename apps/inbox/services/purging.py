"""Purging rejected items after the organisation's keep period (``InboxSettings.rejected_keep_days``).

The bytes, thumbnail, rendered pages and text go; the row stays as a tombstone (who rejected what, when and why,
its hash and provenance) and the purge is audited. The object is deleted before the row is
marked, so a crash in between is finished by the next run (deleting a missing object is fine).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.documents.services.pages import document_remove_renditions
from apps.files import storage
from apps.inbox.models import InboxItem, InboxSettings, ItemState
from apps.inbox.services.intake import _audit

DEFAULT_KEEP_DAYS = InboxSettings._meta.get_field("rejected_keep_days").get_default()


def inbox_purge_rejected(*, now: datetime | None = None, limit: int = 500) -> int:
    """Purge up to `limit` rejected items past their organisation's keep period; returns how many."""
    now = now or timezone.now()
    keep_days = dict(InboxSettings.objects.values_list("organisation_id", "rejected_keep_days"))
    shortest = min([DEFAULT_KEEP_DAYS, *keep_days.values()])
    due = (
        InboxItem.objects.select_related("source")
        .filter(state=ItemState.REJECTED, purged_at__isnull=True, closed_at__lte=now - timedelta(days=shortest))
        .order_by("closed_at")
    )
    purged = 0
    for item in due[:limit]:
        days = keep_days.get(item.organisation_id, DEFAULT_KEEP_DAYS)
        if item.closed_at is None or item.closed_at > now - timedelta(days=days):
            continue
        if item.storage_key:
            document_remove_renditions(document=item)  # the viewer's pages, kept beside the object
        storage.delete(item.storage_key)
        storage.delete(item.thumbnail_key)
        with transaction.atomic():
            marked = InboxItem.objects.filter(pk=item.pk, purged_at__isnull=True).update(
                storage_key="", thumbnail_key="", text="", suggestions={}, purged_at=now
            )
            if marked:
                _audit(item, Action.INBOX_ITEM_PURGED, actor=None, keep_days=days)
                purged += 1
    return purged
