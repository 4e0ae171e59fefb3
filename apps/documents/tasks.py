"""Celery tasks for documents: thin, take ids, idempotent, retry policy on the decorator."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.documents.models import Document, ScanStatus
from apps.documents.services.scanning import document_announce, document_begin_scan, document_record_scan
from apps.files import storage
from apps.files.errors import ScannerUnavailable, StorageUnavailable, ThumbnailError
from apps.files.rendering import make_thumbnail
from apps.files.scanner import scan_stream
from quill.queue import enqueue

logger = logging.getLogger(__name__)

THUMBNAIL_TYPES = {"application/pdf", "image/jpeg", "image/png", "image/tiff"}


@shared_task(name="documents.after_upload", acks_late=True)
def after_upload(document_id: str) -> str:
    """Route a fresh upload: scan it, or (scanner disabled) make it available at once."""
    document = Document.objects.filter(pk=document_id).only("scan_status").first()
    if document is None:
        return "missing"
    if document.scan_status == ScanStatus.NOT_SCANNED:
        enqueue(make_document_thumbnail, document_id)
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
        reader = storage.open_reader(document.storage_key)
    except FileNotFoundError:
        logger.error("document object missing; cannot scan", extra={"document_id": document_id})
        return "missing-object"
    try:
        result = scan_stream(reader)
    finally:
        reader.close()
    recorded = document_record_scan(document=document, clean=result.clean, signature=result.signature)
    if recorded is not None and result.clean:
        enqueue(make_document_thumbnail, document_id)
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
    document = Document.objects.filter(pk=document_id).first()
    if document is None or not document.is_available or document.thumbnail_key:
        return "skipped"
    if document.content_type not in THUMBNAIL_TYPES:
        return "unsupported"
    with tempfile.TemporaryDirectory(prefix="quill-thumb-") as workdir:
        local = os.path.join(workdir, "original")
        try:
            reader = storage.open_reader(document.storage_key)
        except FileNotFoundError:
            return "missing-object"
        with reader, open(local, "wb") as sink:
            shutil.copyfileobj(reader, sink, storage.CHUNK_SIZE)
        try:
            data = make_thumbnail(local, document.content_type)
        except ThumbnailError:
            logger.warning("thumbnail failed; a placeholder will show", extra={"document_id": document_id})
            return "failed"
    key = storage.thumbnail_key(document.storage_key)
    storage.put_bytes(key=key, data=data, content_type="image/webp")
    Document.objects.filter(pk=document_id).update(thumbnail_key=key)
    return "made"


@shared_task(name="documents.sweep_pending_scans")
def sweep_pending_scans(limit: int = 1000) -> int:
    """Re-queue documents stuck in `pending` (a lost queue message, a broker outage)."""
    cutoff = timezone.now() - timedelta(seconds=settings.QUILL_SCAN_SWEEP_AFTER_SECONDS)
    stuck = list(
        Document.objects.filter(scan_status=ScanStatus.PENDING, uploaded_at__lte=cutoff)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in stuck:
        enqueue(scan_document, str(pk))
    return len(stuck)


__all__ = ["after_upload", "document_announce", "make_document_thumbnail", "scan_document", "sweep_pending_scans"]
