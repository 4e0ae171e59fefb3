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


def blank_pdf(pages: int, *, size: float = 72) -> bytes:
    """A PDF of `pages` tiny empty pages (one inch square): a scan's page count with nothing to OCR quickly."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=size, height=size)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def tiny_text_pdf(pages: int) -> bytes:
    """A PDF of `pages` small pages, each with one line of text (a text layer on every page)."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=(288, 72), pageCompression=1)
    for number in range(1, pages + 1):
        document.setFont("Helvetica", 10)
        document.drawString(10, 30, f"Page {number} of the warfarin clinic record")
        document.showPage()
    document.save()
    return buffer.getvalue()


def one_colour_png(width: int, height: int) -> bytes:
    """A white 1-bit PNG of any size, written row by row (never held decoded): 30,000 × 30,000 is ~150 KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then the row's bits (1 = white)
    compressor = zlib.compressobj(9)
    rows_at_once = max(1, (4 << 20) // len(row))
    parts = []
    for start in range(0, height, rows_at_once):
        parts.append(compressor.compress(row * min(rows_at_once, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
