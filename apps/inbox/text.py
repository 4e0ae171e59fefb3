"""The one place the inbox gets a document's text (an adapter until shared extraction lands).

Today: the PDF text layer through pypdfium2, and nothing for images. When text
extraction and OCR exist in ``apps.files`` (issue 18), point ``document_text`` at
them; callers only see a list of page texts.
"""

from __future__ import annotations

import pypdfium2 as pdfium

from apps.files.rendering import _PDFIUM

MAX_TEXT_PAGES = 50  # suggestions need the first pages, not a 400-page record


def document_text(path: str, content_type: str) -> list[str]:
    """The text of each page (at most ``MAX_TEXT_PAGES``); empty for files without a text layer."""
    if content_type != "application/pdf":
        return []
    with _PDFIUM:
        document = pdfium.PdfDocument(path)
        try:
            pages = []
            for index in range(min(len(document), MAX_TEXT_PAGES)):
                page = document[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        pages.append(textpage.get_text_range())
                    finally:
                        textpage.close()
                finally:
                    page.close()
            return pages
        finally:
            document.close()


def page_count(path: str, content_type: str) -> int:
    if content_type != "application/pdf":
        return 1
    with _PDFIUM:
        document = pdfium.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()
