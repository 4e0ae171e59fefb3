"""Wrapping a JPEG, PNG or TIFF in a PDF for OCRmyPDF, run as a child process of its own.

    python apps/files/image_pdf.py SOURCE OUTPUT DEFAULT_DPI MAX_PIXELS

`apps.files.extraction` runs this file (not the module: it imports nothing of Quill, only
Pillow) under the extraction's time and memory limits, so decoding a large image costs the
child's memory, never the worker's, and a hostile image is killed with it. The worker has
already checked every frame's declared size against the pixel limit before starting it.
Every frame of a multi-page TIFF becomes a page, one frame decoded at a time, at the image's
own DPI (`DEFAULT_DPI` when it gives none).

Exit status: 0 done, 4 the image could not be read, 5 it needs more memory than the limit
(a message on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from PIL import Image, ImageSequence

UNREADABLE = 4
OUT_OF_MEMORY = 5


def _pdf_ready(frame: Image.Image) -> Image.Image:
    if frame.mode in ("1", "L", "RGB"):
        return frame.copy()
    return frame.convert("RGB")


def convert(source: str, output: str, *, default_dpi: int, max_pixels: int) -> None:
    # Pillow refuses at twice its limit; the worker's own check is the limit that matters.
    Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(source) as image:
        dpi = image.info.get("dpi", (0, 0))[0] or default_dpi
        frames: Iterator[Image.Image] = (_pdf_ready(frame) for frame in ImageSequence.Iterator(image))
        first = next(frames)
        first.save(output, format="PDF", save_all=True, append_images=frames, resolution=float(dpi))


def main(argv: list[str]) -> int:
    source, output, default_dpi, max_pixels = argv
    try:
        convert(source, output, default_dpi=int(default_dpi), max_pixels=int(max_pixels))
    except MemoryError as exc:
        print(f"MemoryError: {exc}", file=sys.stderr)
        return OUT_OF_MEMORY
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return UNREADABLE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
