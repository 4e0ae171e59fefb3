"""Recording an inbox item's virus scan: once, in one conditional update, audited."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.documents.models import ScanStatus
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.intake import _audit


def inbox_begin_scan(*, item_id: uuid.UUID | str) -> InboxItem | None:
    """Count a scan attempt (committed before the scan starts); None when the item is not waiting for one."""
    counted = InboxItem.objects.filter(pk=item_id, state=ItemState.SCANNING).update(
        scan_attempts=F("scan_attempts") + 1
    )
    if not counted:
        return None
    return InboxItem.objects.select_related("source").filter(pk=item_id).first()


def inbox_record_scan(*, item: InboxItem, clean: bool, signature: str = "") -> InboxItem | None:
    """Move a scanning item to ready or infected, once; None when another worker recorded it first."""
    now = timezone.now()
    signature = "" if clean else signature[:200]
    changes = {
        "scan_status": ScanStatus.CLEAN if clean else ScanStatus.INFECTED,
        "scan_signature": signature,
        "scanned_at": now,
        "state": ItemState.READY if clean else ItemState.INFECTED,
    }
    if not clean:
        changes["closed_at"] = now
    with transaction.atomic():
        moved = InboxItem.objects.filter(pk=item.pk, state=ItemState.SCANNING).update(**changes)
        if not moved:
            return None
        for name, value in changes.items():
            setattr(item, name, value)
        _audit(
            item,
            Action.INBOX_ITEM_SCANNED if clean else Action.INBOX_ITEM_QUARANTINED,
            actor=None,
            outcome=Outcome.SUCCESS if clean else Outcome.DENIED,
            result=changes["scan_status"],
            signature=signature,
        )
    return item
