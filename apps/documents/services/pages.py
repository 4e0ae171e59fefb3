"""A document's pages as images for the viewer, rendered once and kept beside the document.

A document version's bytes never change, so neither do its rendered pages: each
(page, size) is rendered the first time someone asks for it and stored under
``{document uuid}_pages/r{RENDER_VERSION}-w{width}-p{page}.webp`` beside the original;
later requests read that object instead of rendering again. The page count and the
page's own size (which the viewer needs for "100 %") are kept in the cache under
the document's SHA-256, and recomputed from the original when the cache has lost
them. Bump ``RENDER_VERSION`` when the renderer's output changes: old renditions are
then simply no longer asked for (and go when the document is purged).

Authorisation, availability and the audit event of each view are the caller's job
(the page-image view): a stored page is still a page someone looked at. An inbox item's
pages are rendered and kept the same way (beside its object, removed when it is purged).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from django.core.cache import cache

from apps.files import storage
from apps.files.errors import StorageUnavailable
from apps.files.rendering import page_facts, render_page_image

logger = logging.getLogger(__name__)

RENDER_VERSION = 1
FACTS_TTL = 30 * 24 * 3600  # seconds; a lost entry is read from the original again
PAGED_TYPES = {"application/pdf", "image/tiff"}


class PageSize(StrEnum):
    """The widths a page is rendered at: the viewer picks the smallest that is sharp on the screen."""

    THUMB = "thumb"
    STANDARD = "standard"
    LARGE = "large"
    XLARGE = "xlarge"


PAGE_WIDTHS: dict[PageSize, int] = {
    PageSize.THUMB: 240,  # the strip of thumbnails, sharp on a 2x screen
    PageSize.STANDARD: 1000,  # a page that fits a laptop's column, 1x
    PageSize.LARGE: 2000,  # the same on a 2x screen, or zoomed in
    PageSize.XLARGE: 3200,  # an A4 page at 200 % on a 2x screen (1588 CSS px x 2)
}


class Paged(Protocol):
    """What has pages to render: a document version, or an inbox item (whose bytes never change either)."""

    pk: Any
    storage_key: str
    sha256: str
    content_type: str


class Served(StrEnum):
    RENDERED = "rendered"
    STORED = "stored"
    NOT_MODIFIED = "not_modified"


@dataclass(frozen=True)
class PageFacts:
    page_count: int
    page_width: float  # PDF points, or the scan's pixels
    page_height: float


@dataclass(frozen=True)
class PageImage:
    data: bytes
    facts: PageFacts
    served: Served


def page_etag(document: Paged, page: int, size: PageSize) -> str:
    """Names these exact bytes: the document's content, the renderer's version, the page and the width."""
    return f'"{document.sha256}-r{RENDER_VERSION}-w{PAGE_WIDTHS[size]}-p{page}"'


def _rendition_key(document: Paged, page: int, size: PageSize) -> str:
    return storage.rendition_key(document.storage_key, f"r{RENDER_VERSION}-w{PAGE_WIDTHS[size]}-p{page}")


def _facts_cache_key(document: Paged, page: int) -> str:
    return f"quill:page-facts:{document.sha256}:{page}"


def _remember(document: Paged, page: int, facts: PageFacts) -> None:
    try:
        cache.set(_facts_cache_key(document, page), [facts.page_count, facts.page_width, facts.page_height], FACTS_TTL)
    except Exception:  # the cache is a shortcut: without it the facts are read from the original again
        logger.warning("page facts not cached", exc_info=True)


def _remembered(document: Paged, page: int) -> PageFacts | None:
    try:
        value = cache.get(_facts_cache_key(document, page))
    except Exception:
        logger.warning("page facts cache unreadable", exc_info=True)
        return None
    if not isinstance(value, list) or len(value) != 3:
        return None
    return PageFacts(int(value[0]), float(value[1]), float(value[2]))


@contextlib.contextmanager
def _local_copy(document: Paged) -> Iterator[str]:
    """The original copied to a temporary file (pdfium and Pillow read files), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="quill-page-") as workdir:
        path = os.path.join(workdir, "original")
        with storage.open_reader(document.storage_key) as reader, open(path, "wb") as sink:
            shutil.copyfileobj(reader, sink, storage.CHUNK_SIZE)
        yield path


def document_page_rendition(*, document: Paged, page: int, size: PageSize) -> PageImage:
    """Page `page` of an available document at `size`: the stored rendition, else rendered and stored.

    Raises FileNotFoundError when the original is missing and ThumbnailError when there
    is no such page or it cannot be drawn. Failing to store a fresh rendition is logged,
    not raised: the page is still shown, and rendered again next time.
    """
    key = _rendition_key(document, page, size)
    try:
        data = storage.read_bytes(key)
    except FileNotFoundError:
        data = b""
    except StorageUnavailable:
        logger.warning("stored page unreadable; rendering it", extra={"document_id": str(document.pk)})
        data = b""
    if data:
        facts = _remembered(document, page)
        if facts is None:
            with _local_copy(document) as path:
                facts = PageFacts(*page_facts(path, document.content_type, page))
            _remember(document, page, facts)
        return PageImage(data, facts, Served.STORED)
    with _local_copy(document) as path:
        rendered = render_page_image(path, document.content_type, page, width=PAGE_WIDTHS[size])
    facts = PageFacts(rendered.page_count, rendered.page_width, rendered.page_height)
    _remember(document, page, facts)
    try:
        storage.put_bytes(key=key, data=rendered.data, content_type="image/webp")
    except StorageUnavailable:
        logger.warning("rendered page not stored", extra={"document_id": str(document.pk), "page": page})
    return PageImage(rendered.data, facts, Served.RENDERED)


def document_remove_renditions(*, document: Paged) -> int:
    """Remove every stored page of `document` (when its bytes are purged); returns how many."""
    return storage.delete_prefix(storage.renditions_prefix(document.storage_key))
