"""Celery tasks for the inbox: thin, take ids, idempotent, retry policy on the decorator."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.files.errors import ScannerUnavailable, StorageUnavailable
from apps.files.scanner import scan_object
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.scanning import inbox_begin_scan, inbox_record_scan
from quill.queue import enqueue

logger = logging.getLogger(__name__)


@shared_task(
    name="inbox.scan_item",
    acks_late=True,
    autoretry_for=(ScannerUnavailable, StorageUnavailable),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=None,
)
def scan_inbox_item(item_id: str) -> str:
    """Stream the item's object to clamd and record the verdict once (safe to run twice)."""
    item = inbox_begin_scan(item_id=item_id)
    if item is None:
        return "skipped"
    try:
        result = scan_object(item.storage_key)
    except FileNotFoundError:
        logger.error("inbox object missing; cannot scan", extra={"item_id": item_id})
        return "missing-object"
    recorded = inbox_record_scan(item=item, clean=result.clean, signature=result.signature)
    if recorded is not None and result.clean:
        enqueue(after_inbox_item_available, item_id)
    return "clean" if result.clean else "infected"


@shared_task(name="inbox.after_available", acks_late=True, autoretry_for=(StorageUnavailable,), max_retries=5)
def after_inbox_item_available(item_id: str) -> str:
    """Thumbnail and suggestions for an item that may now be opened."""
    from apps.inbox.services.preparation import inbox_prepare

    return inbox_prepare(item_id=item_id)


@shared_task(name="inbox.sweep_pending_scans")
def sweep_inbox_scans(limit: int = 1000) -> int:
    """Re-queue items stuck waiting for a scan (a lost queue message, a broker or clamd outage)."""
    cutoff = timezone.now() - timedelta(seconds=settings.QUILL_SCAN_SWEEP_AFTER_SECONDS)
    stuck = list(
        InboxItem.objects.filter(state=ItemState.SCANNING, received_at__lt=cutoff).values_list("pk", flat=True)[:limit]
    )
    for pk in stuck:
        enqueue(scan_inbox_item, str(pk))
    return len(stuck)


@shared_task(name="inbox.retrain_category_classifiers")
def retrain_category_classifiers() -> int:
    """Nightly (beat): retrain each organisation's category classifier on its own filed documents."""
    from apps.accounts.models import Organisation
    from apps.inbox.services.categories import retrain_classifier

    trained = 0
    for organisation_id in Organisation.objects.values_list("pk", flat=True):
        if retrain_classifier(organisation_id=organisation_id):
            trained += 1
    return trained


@shared_task(name="inbox.purge_rejected")
def purge_rejected_inbox_items() -> int:
    """Daily (beat): remove rejected items' bytes once their organisation's keep period is over."""
    from apps.inbox.services.purging import inbox_purge_rejected

    return inbox_purge_rejected()
