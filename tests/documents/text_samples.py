"""Fixture files for text extraction and search, made by the tests themselves: PDFs with a text
layer (reportlab) and scans (text rendered to an image with Pillow, for OCR to read back)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

SCAN_DPI = 150


def text_pdf(pages: list[str], *, title: str = "Referral") -> bytes:
    """A PDF with a text layer: one page per string, each line drawn as text."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    document.setTitle(title)
    for text in pages:
        document.setFont("Helvetica", 12)
        for number, line in enumerate(text.splitlines()):
            document.drawString(72, 760 - 18 * number, line)
        document.showPage()
    document.save()
    return buffer.getvalue()


def page_image(text: str, *, width: int = 1240, height: int = 500) -> Image.Image:
    """Black text on white, large enough for Tesseract at SCAN_DPI (a small page keeps OCR quick)."""
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for number, line in enumerate(text.splitlines()):
        draw.text((70, 70 + 80 * number), line, fill=0, font=font)
    return image


def scan_png(text: str) -> bytes:
    buffer = io.BytesIO()
    page_image(text).save(buffer, format="PNG", dpi=(SCAN_DPI, SCAN_DPI))
    return buffer.getvalue()


def scan_tiff(pages: list[str]) -> bytes:
    """A multi-page TIFF, one scanned page per string."""
    images = [page_image(text) for text in pages]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="TIFF", save_all=True, append_images=images[1:], dpi=(SCAN_DPI, SCAN_DPI), compression="tiff_lzw"
    )
    return buffer.getvalue()


def scanned_pdf(pages: list[str]) -> bytes:
    """A PDF of page images with no text layer, as a scanner makes."""
    images = [page_image(text).convert("RGB") for text in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=float(SCAN_DPI))
    return buffer.getvalue()
