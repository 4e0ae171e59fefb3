"""Preparing an item someone may now open: thumbnail, text, page count, suggestions (safe to run twice)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

from django.utils import timezone

from apps.files import storage
from apps.files.errors import ThumbnailError
from apps.files.rendering import make_thumbnail
from apps.inbox.barcodes import page_barcodes
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.text import document_text, page_count

logger = logging.getLogger(__name__)

THUMBNAIL_TYPES = {"application/pdf", "image/jpeg", "image/png", "image/tiff"}


@contextlib.contextmanager
def local_copy(key: str) -> Iterator[str]:
    """The object at `key` in a private temp file for the length of the block."""
    with tempfile.TemporaryDirectory(prefix="quill-inbox-") as workdir:
        local = os.path.join(workdir, "original")
        with storage.open_reader(key) as reader, open(local, "wb") as sink:
            shutil.copyfileobj(reader, sink, storage.CHUNK_SIZE)
        yield local


def _thumbnail(item: InboxItem, local: str) -> str:
    if item.thumbnail_key or item.content_type not in THUMBNAIL_TYPES:
        return item.thumbnail_key
    try:
        data = make_thumbnail(local, item.content_type)
    except ThumbnailError:
        logger.warning("inbox thumbnail failed; a placeholder will show", extra={"item_id": str(item.pk)})
        return ""
    key = storage.thumbnail_key(item.storage_key)
    storage.put_bytes(key=key, data=data, content_type="image/webp")
    return key


def inbox_prepare(*, item_id: uuid.UUID | str) -> str:
    item = InboxItem.objects.select_related("source").filter(pk=item_id, state=ItemState.READY).first()
    if item is None or item.prepared_at is not None:
        return "skipped"
    try:
        with local_copy(item.storage_key) as local:
            thumbnail_key = _thumbnail(item, local)
            pages = document_text(local, item.content_type, organisation_id=item.organisation_id)
            count = page_count(local, item.content_type)
            barcodes = page_barcodes(local, item.content_type)
    except FileNotFoundError:
        return "missing-object"
    from apps.inbox.services.suggestions import inbox_suggest

    item.text = "\f".join(pages).replace("\x00", "")
    item.page_count = count
    item.thumbnail_key = thumbnail_key
    suggestions = inbox_suggest(item=item, pages=pages, barcodes=barcodes)
    InboxItem.objects.filter(pk=item.pk).update(
        thumbnail_key=thumbnail_key,
        text=item.text,
        page_count=count,
        suggestions=suggestions,
        prepared_at=timezone.now(),
    )
    from apps.inbox.services.autofiling import inbox_auto_file

    if inbox_auto_file(item_id=item.pk) == "filed":
        return "prepared-and-filed"
    return "prepared"
