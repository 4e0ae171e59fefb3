"""Making a document's thumbnail after a clean scan."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid

from apps.documents.models import Document
from apps.files import storage
from apps.files.errors import ThumbnailError
from apps.files.rendering import make_thumbnail

logger = logging.getLogger(__name__)

THUMBNAIL_TYPES = {"application/pdf", "image/jpeg", "image/png", "image/tiff"}


def document_make_thumbnail(*, document_id: uuid.UUID | str) -> str:
    """Store a small WebP preview beside the original and record its key; safe to run twice.

    Returns what happened ("made", "skipped", "unsupported", "missing-object", "failed"). A
    failure never blocks the document (a placeholder shows); `StorageUnavailable` is raised
    for the caller to retry.
    """
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
            logger.warning("thumbnail failed; a placeholder will show", extra={"document_id": str(document_id)})
            return "failed"
    key = storage.thumbnail_key(document.storage_key)
    storage.put_bytes(key=key, data=data, content_type="image/webp")
    Document.objects.filter(pk=document_id).update(thumbnail_key=key)
    return "made"
