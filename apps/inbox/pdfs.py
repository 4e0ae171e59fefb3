"""One PDF made of several files, in order: a PDF's pages as they are, an image as one page per frame.

Used to merge inbox items. Nothing is re-encoded that need not be: PDF pages are copied
(pikepdf), a plain JPEG goes into its page byte for byte (``DCTDecode``), and other images
(PNG, TIFF frames, a JPEG that EXIF turns) are stored losslessly (``FlateDecode``). An image
page is sized from its resolution (dots per inch), or as a 200 dpi scan when it names none.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import pikepdf
from PIL import Image, ImageOps, ImageSequence

MERGEABLE_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/tiff")
DEFAULT_DPI = 200.0


def merged_pdf(sources: list[tuple[str, str]], destination: str) -> int:
    """Write the pages of `sources` ((path, content type), in order) to `destination`; returns the page count."""
    with contextlib.ExitStack() as stack:
        merged = stack.enter_context(pikepdf.new())
        for path, content_type in sources:
            if content_type == "application/pdf":
                source = stack.enter_context(pikepdf.open(path))
                merged.pages.extend(source.pages)
            elif content_type in MERGEABLE_TYPES:
                frames = list(_frames(path))
                for frame in frames:
                    whole = len(frames) == 1 and _passes_through(frame, content_type)
                    _append_image(merged, frame, path if whole else None)
            else:
                raise ValueError(f"cannot make PDF pages of {content_type}")
        merged.remove_unreferenced_resources()
        merged.save(destination)
        return len(merged.pages)


def _frames(path: str) -> Iterator[Image.Image]:
    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            yield frame.copy()


def _passes_through(frame: Image.Image, content_type: str) -> bool:
    """A JPEG in grey or RGB that needs no turning is embedded as it is."""
    orientation = frame.getexif().get(0x0112, 1)
    return content_type == "image/jpeg" and frame.mode in ("L", "RGB") and orientation in (None, 1)


def _upright(frame: Image.Image) -> Image.Image:
    frame = ImageOps.exif_transpose(frame) or frame
    if frame.mode in ("1", "L", "RGB"):
        return frame
    if frame.mode in ("RGBA", "LA", "P", "PA") or "transparency" in frame.info:
        rgba = frame.convert("RGBA")
        white = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if frame.mode.startswith("I;16") or frame.mode in ("I", "F"):
        return frame.convert("L")
    return frame.convert("RGB")


def _append_image(pdf: pikepdf.Pdf, frame: Image.Image, jpeg_path: str | None) -> None:
    dpi = frame.info.get("dpi") or (DEFAULT_DPI, DEFAULT_DPI)
    dpi_x, dpi_y = (float(value) if value and float(value) > 1 else DEFAULT_DPI for value in dpi[:2])
    if jpeg_path is not None:
        with open(jpeg_path, "rb") as reader:
            stream = pikepdf.Stream(pdf, reader.read())
        stream.Filter = pikepdf.Name.DCTDecode
        bits, colour = 8, ("/DeviceGray" if frame.mode == "L" else "/DeviceRGB")
    else:
        frame = _upright(frame)
        stream = pikepdf.Stream(pdf, zlib.compress(frame.tobytes(), 6))
        stream.Filter = pikepdf.Name.FlateDecode
        bits = 1 if frame.mode == "1" else 8
        colour = "/DeviceRGB" if frame.mode == "RGB" else "/DeviceGray"
    stream.Type = pikepdf.Name.XObject
    stream.Subtype = pikepdf.Name.Image
    stream.Width, stream.Height = frame.width, frame.height
    stream.BitsPerComponent = bits
    stream.ColorSpace = pikepdf.Name(colour)
    width, height = frame.width * 72 / dpi_x, frame.height * 72 / dpi_y
    content = f"q {width:.3f} 0 0 {height:.3f} 0 0 cm /Im0 Do Q".encode()
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, round(width, 3), round(height, 3)],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream)),
        Contents=pikepdf.Stream(pdf, content),
    )
    pdf.pages.append(pikepdf.Page(page))
