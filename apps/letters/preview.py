"""The letter's preview is its PDF: what a clinician checks is what will be signed and sent.

A draft's PDF is rendered afresh from the letter (as it would be signed now); a final
letter's is the stored, sealed document, served only once its virus check passed. Pages
are shown as images rendered the same way as document pages (``apps.files.rendering``).
"""

from __future__ import annotations

import os
import tempfile

from apps.documents.services.delivery import ensure_available
from apps.files import storage
from apps.files.rendering import pdf_page_count, render_page
from apps.letters.models import Letter, LetterStatus
from apps.letters.pdf import render_letter_pdf
from apps.letters.services import letter_pdf_content

PAGE_WIDTH = 1000


def letter_pdf_bytes(letter: Letter) -> bytes:
    """The PDF a reader of this letter should see: the stored one once final, else a fresh rendering."""
    if letter.status == LetterStatus.FINAL and letter.document is not None:
        ensure_available(letter.document)  # ScanPending / Quarantined / DocumentCorrupt (409)
        with storage.open_reader(letter.document.storage_key) as reader:
            return reader.read()
    return render_letter_pdf(letter_pdf_content(letter))


def letter_preview_page(letter: Letter, page: int) -> tuple[bytes, int]:
    """(WebP of page `page`, page count) of the letter's PDF."""
    with tempfile.TemporaryDirectory(prefix="quill-letter-") as workdir:
        path = os.path.join(workdir, "letter.pdf")
        with open(path, "wb") as sink:
            sink.write(letter_pdf_bytes(letter))
        return render_page(path, "application/pdf", page, width=PAGE_WIDTH)


def letter_page_count(letter: Letter) -> int:
    return pdf_page_count(letter_pdf_bytes(letter))
