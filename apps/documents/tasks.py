"""Celery tasks for documents: thin, take ids, idempotent, retry policy on the decorator."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.documents.models import ScanStatus
from apps.documents.selectors import document_scan_status, documents_stuck_pending, documents_text_pending
from apps.documents.services.scanning import document_announce, document_begin_scan, document_record_scan
from apps.documents.services.text import document_extract_text
from apps.documents.services.thumbnails import document_make_thumbnail
from apps.files.errors import ScannerUnavailable, StorageUnavailable
from apps.files.scanner import scan_object
from quill.queue import enqueue

logger = logging.getLogger(__name__)


@shared_task(name="documents.after_upload", acks_late=True)
def after_upload(document_id: str) -> str:
    """Route a fresh upload: scan it, or (scanner disabled) make it available at once."""
    scan_status = document_scan_status(document_id=document_id)
    if scan_status is None:
        return "missing"
    if scan_status == ScanStatus.NOT_SCANNED:
        enqueue(make_document_thumbnail, document_id)
        enqueue(extract_text, document_id)
        return "not_scanned"
    enqueue(scan_document, document_id)
    return "queued"


@shared_task(
    name="documents.scan_document",
    acks_late=True,
    autoretry_for=(ScannerUnavailable, StorageUnavailable),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=None,
)
def scan_document(document_id: str) -> str:
    """Stream the object to clamd and record the verdict once (safe to run twice)."""
    document = document_begin_scan(document_id=document_id)
    if document is None:
        return "skipped"
    try:
        result = scan_object(document.storage_key)
    except FileNotFoundError:
        logger.error("document object missing; cannot scan", extra={"document_id": document_id})
        return "missing-object"
    recorded = document_record_scan(document=document, clean=result.clean, signature=result.signature)
    if recorded is not None and result.clean:
        enqueue(make_document_thumbnail, document_id)
        enqueue(extract_text, document_id)
    return "clean" if result.clean else "infected"


@shared_task(
    name="documents.make_thumbnail",
    acks_late=True,
    autoretry_for=(StorageUnavailable,),
    retry_backoff=5,
    max_retries=5,
)
def make_document_thumbnail(document_id: str) -> str:
    """Make a small WebP preview; failure never blocks the document (a placeholder shows)."""
    return document_make_thumbnail(document_id=document_id)


@shared_task(
    name="documents.extract_text",
    acks_late=True,
    autoretry_for=(StorageUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=None,
)
def extract_text(document_id: str) -> str:
    """Read a clean document's text for search (text layer or OCR) and record it once (safe to run twice)."""
    return document_extract_text(document_id=document_id)


@shared_task(name="documents.sweep_pending_text")
def sweep_pending_text(limit: int = 200) -> int:
    """Re-queue available documents whose text is still pending (a killed worker, a lost message)."""
    cutoff = timezone.now() - timedelta(seconds=settings.QUILL_TEXT_SWEEP_AFTER_SECONDS)
    stuck = documents_text_pending(uploaded_before=cutoff, limit=limit)
    for pk in stuck:
        enqueue(extract_text, str(pk))
    return len(stuck)


@shared_task(name="documents.sweep_pending_scans")
def sweep_pending_scans(limit: int = 1000) -> int:
    """Re-queue documents stuck in `pending` (a lost queue message, a broker outage)."""
    cutoff = timezone.now() - timedelta(seconds=settings.QUILL_SCAN_SWEEP_AFTER_SECONDS)
    stuck = documents_stuck_pending(uploaded_before=cutoff, limit=limit)
    for pk in stuck:
        enqueue(scan_document, str(pk))
    return len(stuck)


__all__ = [
    "after_upload",
    "document_announce",
    "extract_text",
    "make_document_thumbnail",
    "scan_document",
    "sweep_pending_scans",
    "sweep_pending_text",
]
