"""The letter's preview is its PDF: what a clinician checks is what will be signed and sent.

A draft's PDF is rendered from the letter as it would be signed now; a final letter's is
the stored, sealed document, served only once its virus check passed. Pages are shown as
images rendered the same way as document pages (``apps.files.rendering``).

Rendering happens once per content, not once per request: a preview is one letter page and
one image request per PDF page, each of which used to render the draft again.

- A draft's PDF and its page images are cached (Django's cache: Redis in production) under
  the SHA-256 of everything the PDF prints (``LetterPdf``) and ``LAYOUT_VERSION``, for
  ``PREVIEW_TTL`` seconds. Saving the draft changes the content, so the key; nothing has to
  be invalidated. The same key is the images' ETag, so a browser revalidates instead of
  downloading again. Without the cache (Redis down) the preview is rendered as before.
- A final letter's pages are its PDF document's pages (`document_page_rendition`): rendered
  once, stored beside the document for good (its bytes never change).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass

from django.core.cache import cache

from apps.accounts.models import User
from apps.documents.services.delivery import ensure_available
from apps.documents.services.pages import PAGE_WIDTHS, PageSize, document_page_rendition, page_etag
from apps.files import storage
from apps.files.rendering import pdf_page_count, render_page
from apps.letters.models import Letter, LetterStatus
from apps.letters.pdf import LetterPdf, render_letter_pdf
from apps.letters.services import letter_pdf_content

logger = logging.getLogger(__name__)

PAGE_SIZE = PageSize.STANDARD
PAGE_WIDTH = PAGE_WIDTHS[PAGE_SIZE]
LAYOUT_VERSION = 2  # bump when `render_letter_pdf` prints differently: cached previews are then not asked for
PREVIEW_TTL = 15 * 60  # seconds: a drafting session; a lost entry is rendered again


@dataclass(frozen=True)
class PreviewPage:
    data: bytes
    etag: str


def _is_final(letter: Letter) -> bool:
    return letter.status == LetterStatus.FINAL and letter.document is not None


def content_key(content: LetterPdf) -> str:
    """Names what a rendering prints: the same key, the same PDF pages."""
    canonical = json.dumps(
        {"layout": LAYOUT_VERSION, **dataclasses.asdict(content)}, sort_keys=True, default=str, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cached(key: str) -> bytes | None:
    try:
        value = cache.get(key)
    except Exception:  # the cache is a shortcut: without it the preview is rendered again
        logger.warning("letter preview cache unreadable", exc_info=True)
        return None
    return value if isinstance(value, bytes) else None


def _keep(key: str, data: bytes) -> None:
    try:
        cache.set(key, data, PREVIEW_TTL)
    except Exception:
        logger.warning("letter preview not cached", exc_info=True)


def _draft_pdf(content: LetterPdf, key: str) -> bytes:
    cache_key = f"quill:letter-pdf:{key}"
    data = _cached(cache_key)
    if data is None:
        data = render_letter_pdf(content)
        _keep(cache_key, data)
    return data


def preview_signer(letter: Letter, reader: User) -> User | None:
    """Who a draft's preview names as signatory: the reader when they may finalise it (whoever
    finalises signs), else None (the author). The preview is then the PDF the reader would sign."""
    return reader if letter.status == LetterStatus.DRAFT and reader.has_role("clinician") else None


def letter_pdf_bytes(letter: Letter, *, signer: User | None = None) -> bytes:
    """The PDF a reader of this letter should see: the stored one once final, else the draft's rendering."""
    if _is_final(letter):
        assert letter.document is not None
        ensure_available(letter.document)  # ScanPending / Quarantined / DocumentCorrupt (409)
        with storage.open_reader(letter.document.storage_key) as reader:
            return reader.read()
    content = letter_pdf_content(letter, signer=signer)
    return _draft_pdf(content, content_key(content))


def letter_preview_etag(letter: Letter, page: int, *, signer: User | None = None) -> str:
    """The ETag of page `page`'s image: the sealed document's page, or the draft's content key.

    A final letter's document is checked first (409 while pending, quarantined or corrupt), so a
    browser's copy is never confirmed (304) for a PDF that may no longer be served."""
    if _is_final(letter):
        assert letter.document is not None
        ensure_available(letter.document)
        return page_etag(letter.document, page, PAGE_SIZE)
    return f'"letter-{content_key(letter_pdf_content(letter, signer=signer))}-w{PAGE_WIDTH}-p{page}"'


def letter_preview_page(letter: Letter, page: int, *, signer: User | None = None) -> PreviewPage:
    """Page `page` of the letter's PDF as WebP. ThumbnailError when there is no such page."""
    if _is_final(letter):
        assert letter.document is not None
        ensure_available(letter.document)
        image = document_page_rendition(document=letter.document, page=page, size=PAGE_SIZE)
        return PreviewPage(image.data, page_etag(letter.document, page, PAGE_SIZE))
    content = letter_pdf_content(letter, signer=signer)
    key = content_key(content)
    cache_key = f"quill:letter-page:{key}:w{PAGE_WIDTH}:p{page}"
    etag = f'"letter-{key}-w{PAGE_WIDTH}-p{page}"'
    data = _cached(cache_key)
    if data is None:
        with tempfile.TemporaryDirectory(prefix="quill-letter-") as workdir:
            path = os.path.join(workdir, "letter.pdf")
            with open(path, "wb") as sink:
                sink.write(_draft_pdf(content, key))
            data, _ = render_page(path, "application/pdf", page, width=PAGE_WIDTH)
        _keep(cache_key, data)
    return PreviewPage(data, etag)


def letter_page_count(letter: Letter, *, signer: User | None = None) -> int:
    return pdf_page_count(letter_pdf_bytes(letter, signer=signer))
