"""Small WebP previews of documents, and profile photos.

Runs in a worker on files that already passed :mod:`apps.files.validation`,
but stays safe alone: each image is opened with only its own decoder, Pillow's
decompression-bomb guard stays on, and every failure is a :class:`ThumbnailError`.
Output is re-encoded, so EXIF (camera GPS and the like) never reaches a thumbnail.
pdfium is not thread-safe, and the web servers run threads (gunicorn gthread): every
use of it here holds ``_PDFIUM``, a process-wide lock, from opening the PDF to closing
it; encoding the WebP happens outside the lock.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from apps.files.errors import ThumbnailError

WEBP_QUALITY = 80
PDF_SUPERSAMPLE = 2  # render at twice the target size, then downscale: legible text in small previews
PDF_MAX_SCALE = 4.0  # a postage-stamp page is not rendered at poster size
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/tiff": "TIFF"}
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")
PAGE_MAX_PIXELS = 24_000_000  # a long scroll of a page is rendered narrower rather than at any size
WEBP_MAX_SIDE = 16_383  # the format's limit
PAGE_WEBP_METHOD = 2
EXIF_ORIENTATION = 0x0112


R = TypeVar("R")

_PDFIUM = threading.Lock()  # one pdfium call at a time in this process (see the module's docstring)
PDFIUM_LOCK = _PDFIUM  # for the other readers of PDFs in this layer (text extraction)


def make_thumbnail(path: str, content_type: str, *, max_side: int = 320) -> bytes:
    """WebP bytes whose longer side is at most ``max_side``: the (first) image, or a PDF's first page."""
    if content_type == "application/pdf":
        return _guarded(lambda: _encode_webp(_fit(_render_pdf_first_page(path, max_side), max_side)))
    image_format = IMAGE_FORMATS.get(content_type)
    if image_format is None:
        raise ThumbnailError(
            f"Quill does not make previews of {content_type or 'this kind of'} files.", content_type=content_type
        )
    return _guarded(lambda: _encode_webp(_fit(_open_upright(path, (image_format,), max_side), max_side)))


def resize_photo(path: str, *, max_side: int = 512) -> bytes:
    """A profile photo scaled to fit ``max_side`` (never enlarged), as WebP."""
    return _guarded(lambda: _encode_webp(_fit(_open_upright(path, PHOTO_FORMATS, max_side), max_side)))


def avatar(path: str, *, side: int = 64) -> bytes:
    """A square ``side`` × ``side`` WebP cropped from the centre of a profile photo."""

    def build() -> bytes:
        image = _open_upright(path, PHOTO_FORMATS, side)
        return _encode_webp(ImageOps.fit(image, (side, side), method=Image.Resampling.LANCZOS))

    return _guarded(build)


def _guarded(build: Callable[[], R]) -> R:
    try:
        return build()
    except ThumbnailError:
        raise
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError, pdfium.PdfiumError) as exc:
        raise ThumbnailError() from exc


def _open_upright(path: str, formats: tuple[str, ...], target_side: int) -> Image.Image:
    """Decode the first frame, turned the way the camera meant (EXIF orientation), in a WebP-ready mode."""
    with Image.open(path, formats=list(formats)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (target_side * 2, target_side * 2))  # let libjpeg decode at reduced size
        upright = ImageOps.exif_transpose(image)
        upright.load()
        return _webp_mode(upright)


def _webp_mode(image: Image.Image) -> Image.Image:
    """RGB or RGBA; high-bit-depth greyscale (scanners, radiology exports) stretched to 8 bits, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _stretch_to_8bit(image.convert("F"))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode == "RGB":
        return image
    return image.convert("RGB")


def _stretch_to_8bit(image: Image.Image) -> Image.Image:
    low, high = cast(tuple[float, float], image.getextrema())  # one band: (min, max)
    span = (high - low) or 1
    return image.point(lambda value: (value - low) * 255.0 / span).convert("L").convert("RGB")


def _render_pdf_first_page(path: str, max_side: int) -> Image.Image:
    with _PDFIUM:
        return _render_pdf_first_page_locked(path, max_side)


def _render_pdf_first_page_locked(path: str, max_side: int) -> Image.Image:
    document = pdfium.PdfDocument(path)
    try:
        if len(document) < 1:
            raise ThumbnailError("This PDF has no pages to preview.")
        page = document[0]
        try:
            width, height = page.get_size()
            scale = min(PDF_SUPERSAMPLE * max_side / max(width, height, 1), PDF_MAX_SCALE)
            bitmap = page.render(scale=scale, may_draw_forms=False)
            try:
                return bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        document.close()


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _encode_webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


@dataclass(frozen=True)
class RenderedPage:
    """One page as WebP, with what a viewer needs to lay it out."""

    data: bytes
    page_count: int
    width: int  # pixels of `data`
    height: int
    page_width: float  # the page itself: PDF points (1/72 in), or the scan's pixels
    page_height: float


def render_page(path: str, content_type: str, page: int, *, width: int = 1000) -> tuple[bytes, int]:
    """(WebP of page ``page`` at about ``width`` px wide, page count): the letter preview's pages."""
    rendered = render_page_image(path, content_type, page, width=width)
    return rendered.data, rendered.page_count


def render_page_image(path: str, content_type: str, page: int, *, width: int) -> RenderedPage:
    """Page ``page`` as WebP ``width`` px wide (never more than ``PAGE_MAX_PIXELS``): the document viewer.

    PDFs render the requested page; TIFF scans show their first frame as page 1 of 1,
    never enlarged.
    """
    if content_type == "image/tiff":
        if page != 1:
            raise ThumbnailError("This image has one page.")
        return _guarded(lambda: _render_scan(path, width))
    if content_type != "application/pdf":
        raise ThumbnailError("Only PDFs and TIFF scans are shown page by page.", content_type=content_type)
    return _guarded(lambda: _render_pdf_page(path, page, width))


def _render_scan(path: str, width: int) -> RenderedPage:
    image = _open_upright(path, (IMAGE_FORMATS["image/tiff"],), width)
    scan_width, scan_height = image.size
    image = _fit(image, width)
    return RenderedPage(_encode_page(image), 1, image.width, image.height, scan_width, scan_height)


def _page_scale(page_width: float, page_height: float, width: int) -> float:
    """``width`` px across, unless that would pass the pixel budget or WebP's largest side."""
    area = max(page_width, 1) * max(page_height, 1)
    return min(
        width / max(page_width, 1),
        (PAGE_MAX_PIXELS / area) ** 0.5,
        (WEBP_MAX_SIDE - 1) / max(page_width, page_height, 1),  # pdfium rounds sizes up
    )


def _render_pdf_page(path: str, number: int, width: int) -> RenderedPage:
    with _PDFIUM:
        image, count, page_width, page_height = _draw_pdf_page(path, number, width)
    return RenderedPage(_encode_page(image), count, image.width, image.height, page_width, page_height)


def _draw_pdf_page(path: str, number: int, width: int) -> tuple[Image.Image, int, float, float]:
    document = pdfium.PdfDocument(path)
    try:
        count = len(document)
        if not 1 <= number <= count:
            raise ThumbnailError(f"This PDF has {count} pages.")
        page = document[number - 1]
        try:
            page_width, page_height = page.get_size()
            bitmap = page.render(scale=_page_scale(page_width, page_height, width), may_draw_forms=False)
            try:
                image = bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        document.close()
    return image, count, page_width, page_height


def _encode_page(image: Image.Image) -> bytes:
    """Pages are re-read more than thumbnails and are mostly text: a faster WebP method, same quality."""
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=PAGE_WEBP_METHOD)
    return buffer.getvalue()


def page_facts(path: str, content_type: str, page: int) -> tuple[int, float, float]:
    """(page count, width, height of page ``page``) without rendering anything; sizes as in RenderedPage."""
    if content_type == "image/tiff":
        if page != 1:
            raise ThumbnailError("This image has one page.")
        return 1, *_guarded(lambda: _scan_size(path))
    if content_type != "application/pdf":
        raise ThumbnailError("Only PDFs and TIFF scans are shown page by page.", content_type=content_type)
    return _guarded(lambda: _pdf_page_facts(path, page))


def _scan_size(path: str) -> tuple[float, float]:
    """The scan's size as shown: EXIF orientations 5 to 8 turn it a quarter, swapping the sides."""
    with Image.open(path, formats=[IMAGE_FORMATS["image/tiff"]]) as image:
        width, height = image.size
        if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
            return float(height), float(width)
        return float(width), float(height)


def _pdf_page_facts(path: str, number: int) -> tuple[int, float, float]:
    with _PDFIUM:
        return _pdf_page_facts_locked(path, number)


def _pdf_page_facts_locked(path: str, number: int) -> tuple[int, float, float]:
    document = pdfium.PdfDocument(path)
    try:
        count = len(document)
        if not 1 <= number <= count:
            raise ThumbnailError(f"This PDF has {count} pages.")
        width, height = document.get_page_size(number - 1)
        return count, width, height
    finally:
        document.close()


def pdf_page_count(data: bytes) -> int:
    """How many pages a PDF has, without rendering any."""

    def count() -> int:
        with _PDFIUM:
            document = pdfium.PdfDocument(data)
            try:
                return len(document)
            finally:
                document.close()

    return _guarded(count)
