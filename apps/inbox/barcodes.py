"""Barcodes on scanned pages (zxing-cpp): separator sheets and patient cover sheets.

A page carrying a barcode whose text is ``QUILL-SEPARATOR`` (any linear or matrix format) ends
one document and starts the next; the sheet itself is not filed. A page carrying a Data Matrix
or QR code with a valid NHS number (the digits alone, or after ``NHS:``) is a cover sheet: it
is not filed either, and the pages after it (up to the next separator or cover sheet) are
suggested for that patient. Pages are rendered in grey at ``RENDER_DPI``, enough for a sheet
printed at ordinary size.
"""

from __future__ import annotations

from collections.abc import Iterator

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image, ImageSequence

from apps.files.rendering import PDFIUM_LOCK

SEPARATOR = "QUILL-SEPARATOR"
RENDER_DPI = 150
MAX_BARCODE_PAGES = 50
COVER_FORMATS = {zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode}


def _pdf_pages(path: str) -> Iterator[Image.Image]:
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(path)
        try:
            for index in range(min(len(document), MAX_BARCODE_PAGES)):
                page = document[index]
                try:
                    yield page.render(scale=RENDER_DPI / 72, grayscale=True).to_pil()
                finally:
                    page.close()
        finally:
            document.close()


def _image_pages(path: str) -> Iterator[Image.Image]:
    with Image.open(path) as image:
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            if index >= MAX_BARCODE_PAGES:
                return
            yield frame.convert("L")


def page_barcodes(path: str, content_type: str) -> dict[int, list[tuple[str, bool]]]:
    """Per page number (from 1), the texts of its barcodes and whether each is a cover-sheet format."""
    if content_type == "application/pdf":
        pages = _pdf_pages(path)
    elif content_type in {"image/png", "image/jpeg", "image/tiff"}:
        pages = _image_pages(path)
    else:
        return {}
    found: dict[int, list[tuple[str, bool]]] = {}
    try:
        for number, image in enumerate(pages, start=1):
            codes = [(code.text, code.format in COVER_FORMATS) for code in zxingcpp.read_barcodes(image) if code.text]
            if codes:
                found[number] = codes
    except (OSError, ValueError, pdfium.PdfiumError):
        return found
    return found
