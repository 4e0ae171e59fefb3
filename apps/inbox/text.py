"""The one place the inbox gets a document's text: the shared extraction in ``apps.files``.

A PDF's text layer is read as it is; a scanned PDF or an image (JPEG, PNG, TIFF) is OCRed with
the organisation's OCR languages and the installation's limits, as search does
(docs/search.md). When OCR is switched off (``QUILL_OCR=none``) or fails, a scan simply has no
text and gets no text-based suggestions: the item stays in the inbox for a person to file.
A PDF longer than the extraction's page limit still gives its first pages' text layer, which is
all suggestions need.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import replace

import pypdfium2 as pdfium
from django.conf import settings

from apps.documents.services.text import extraction_limits, organisation_ocr_languages
from apps.files.errors import TextNotRead, TooManyPages
from apps.files.extraction import EXTRACTABLE_TYPES, extract_text
from apps.files.rendering import PDFIUM_LOCK

logger = logging.getLogger(__name__)

MAX_TEXT_PAGES = 50  # suggestions need the first pages, not a 400-page record


def document_text(path: str, content_type: str, *, organisation_id: uuid.UUID) -> list[str]:
    """The text of each page (at most ``MAX_TEXT_PAGES``): text layer, else OCR; empty when there is none."""
    if content_type not in EXTRACTABLE_TYPES:
        return []
    limits = extraction_limits()
    limits = replace(limits, max_pages=min(limits.max_pages, MAX_TEXT_PAGES))
    with tempfile.TemporaryDirectory(prefix="quill-inbox-text-") as workdir:
        try:
            extracted = extract_text(
                path,
                content_type,
                workdir=workdir,
                languages=organisation_ocr_languages(organisation_id=organisation_id),
                limits=limits,
                ocr_mode=settings.QUILL_OCR,
            )
        except TooManyPages:
            return _first_text_layer_pages(path) if content_type == "application/pdf" else []
        except TextNotRead as failure:
            logger.info("inbox item has no text for suggestions", extra={"error_code": failure.error_code})
            return []
    return extracted.pages[:MAX_TEXT_PAGES]


def _first_text_layer_pages(path: str) -> list[str]:
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(path)
        try:
            pages = []
            for index in range(min(len(document), MAX_TEXT_PAGES)):
                page = document[index]
                textpage = page.get_textpage()
                try:
                    pages.append(textpage.get_text_bounded())
                finally:
                    textpage.close()
                    page.close()
            return pages
        finally:
            document.close()


def page_count(path: str, content_type: str) -> int:
    if content_type != "application/pdf":
        return 1
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()
