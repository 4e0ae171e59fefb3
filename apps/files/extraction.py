"""Text out of a stored file, page by page: the PDF text layer, or OCR for scans and images.

The byte layer's half of search (docs/search.md): it reads a local copy of the original and
never changes it. PDF text layers are read with pypdfium2. A scan (a PDF whose pages carry no
text, or a JPEG/PNG/TIFF, multi-page TIFF included) goes through OCRmyPDF and Tesseract in a
child process, which makes a searchable PDF/A beside the original and is killed at the
document's time limit, so a huge or hostile file costs at most that much time and one
process's memory. The text is then read back from that PDF/A's text layer, so search, the
snippets and the viewer's highlights all come from the same words.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache

import pypdfium2 as pdfium
from PIL import Image, ImageSequence

from apps.files.errors import (
    OcrFailed,
    OcrUnavailable,
    TextTimeout,
    TextUnsupported,
    TooManyPages,
    UnreadableForText,
)
from apps.files.rendering import PDFIUM_LOCK

IMAGE_TYPES = {"image/jpeg", "image/png", "image/tiff"}
EXTRACTABLE_TYPES = {"application/pdf", *IMAGE_TYPES}
# A page with fewer letters than this has no usable text layer (a scanner's stamp, a page number).
MIN_TEXT_CHARACTERS = 20
DEFAULT_IMAGE_DPI = 300  # for images that do not say their resolution (most phone photos)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_OUTPUT_TAIL = 2000  # of OCRmyPDF's messages kept for the failure reason's log


@dataclass(frozen=True)
class ExtractionLimits:
    page_timeout: float  # Tesseract's time per page; a page over it is left without OCR text
    document_timeout: float  # the whole OCR child process; over it, the document fails
    max_pages: int


@dataclass(frozen=True)
class WordBox:
    """One word on a page, its box as fractions of the page from the top-left corner."""

    text: str
    x: float
    y: float
    width: float
    height: float


@dataclass
class ExtractedText:
    pages: list[str]
    method: str  # "text_layer" or "ocr"
    searchable_pdf: str | None = None  # path of the PDF/A made by OCR, when OCR ran
    notes: list[str] = field(default_factory=list)

    @property
    def has_text(self) -> bool:
        return any(page.strip() for page in self.pages)


@cache
def _tesseract_languages() -> frozenset[str]:
    binary = shutil.which("tesseract")
    if binary is None:
        return frozenset()
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


def ocr_available(mode: str) -> bool:
    """Whether OCR can run: `mode` is QUILL_OCR ("auto", "tesseract" or "none")."""
    if mode == "none":
        return False
    return bool(_tesseract_languages()) and shutil.which("gs") is not None


def installed_ocr_languages() -> frozenset[str]:
    """Tesseract's installed language packs (`eng`, `deu`, ...), without its script detector `osd`."""
    return _tesseract_languages() - {"osd"}


def pdf_page_count(path: str) -> int:
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()


def pdf_text_pages(path: str, *, max_pages: int) -> list[str]:
    """The text layer of each page (an empty string for a page without one)."""
    pages: list[str] = []
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise UnreadableForText("The PDF could not be read.") from exc
        try:
            if len(document) > max_pages:
                raise TooManyPages(pages=len(document), max_pages=max_pages)
            for index in range(len(document)):
                page = document[index]
                textpage = page.get_textpage()
                try:
                    pages.append(_clean(textpage.get_text_bounded()))
                finally:
                    textpage.close()
                    page.close()
        finally:
            document.close()
    return pages


def pdf_word_boxes(path: str, *, page_number: int) -> list[WordBox]:
    """The words of one page of a PDF's text layer with their boxes (for highlighting hits)."""
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(path)
        try:
            if not 1 <= page_number <= len(document):
                return []
            page = document[page_number - 1]
            width, height = page.get_size()
            textpage = page.get_textpage()
            try:
                return list(_words(textpage, width, height))
            finally:
                textpage.close()
                page.close()
        finally:
            document.close()


def _words(textpage, width: float, height: float) -> Iterator[WordBox]:
    text = textpage.get_text_range()
    start = None
    for index, char in enumerate([*text, " "]):
        if char.isalnum() or (start is not None and char in "-'/."):
            if start is None:
                start = index
            continue
        if start is not None:
            word = text[start:index].strip("-'/.")
            if word:
                boxes = [textpage.get_charbox(i) for i in range(start, start + len(word))]
                left = min(box[0] for box in boxes)
                bottom = min(box[1] for box in boxes)
                right = max(box[2] for box in boxes)
                top = max(box[3] for box in boxes)
                yield WordBox(
                    text=word,
                    x=round(left / width, 4),
                    y=round((height - top) / height, 4),
                    width=round((right - left) / width, 4),
                    height=round((top - bottom) / height, 4),
                )
            start = None


def _clean(text: str) -> str:
    # pdfium ends lines with \r\n and marks soft hyphens; NUL never belongs in a database text column.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufffe", "").strip()


def needs_ocr(pages: list[str]) -> bool:
    """True when some page has no usable text layer (a scan, or a scan with a typed cover page)."""
    return not pages or any(len(page) < MIN_TEXT_CHARACTERS for page in pages)


def extract_text(
    path: str,
    content_type: str,
    *,
    workdir: str,
    languages: list[str],
    limits: ExtractionLimits,
    ocr_mode: str,
) -> ExtractedText:
    """Read the text of the file at `path`, OCRing it when needed and possible.

    `workdir` is a private temporary folder (the PDF/A is written there). Raises
    TextNotRead (apps/files/errors.py) for a file whose text cannot be had; a PDF with a text layer
    always gives its text, even when OCR is unavailable.
    """
    if content_type == "application/pdf":
        pages = pdf_text_pages(path, max_pages=limits.max_pages)
        if not needs_ocr(pages):
            return ExtractedText(pages=pages, method="text_layer")
        if not ocr_available(ocr_mode):
            if any(pages):
                return ExtractedText(pages=pages, method="text_layer", notes=[OcrUnavailable.error_code])
            raise OcrUnavailable()
        source = path
    elif content_type in IMAGE_TYPES:
        if not ocr_available(ocr_mode):
            raise OcrUnavailable()
        source = os.path.join(workdir, "image.pdf")
        image_to_pdf(path, source, max_pages=limits.max_pages)
    else:
        raise TextUnsupported()
    output = os.path.join(workdir, "searchable.pdf")
    run_ocrmypdf(source, output, languages=languages, limits=limits)
    return ExtractedText(pages=pdf_text_pages(output, max_pages=limits.max_pages), method="ocr", searchable_pdf=output)


def image_to_pdf(path: str, output: str, *, max_pages: int) -> None:
    """Wrap a JPEG, PNG or TIFF (every frame of a multi-page TIFF) in a PDF for OCRmyPDF, at its own DPI."""
    try:
        with Image.open(path) as image:
            count = getattr(image, "n_frames", 1)
            if count > max_pages:
                raise TooManyPages(pages=count, max_pages=max_pages)
            dpi = image.info.get("dpi", (0, 0))[0] or DEFAULT_IMAGE_DPI
            frames = (_pdf_ready(frame) for frame in ImageSequence.Iterator(image))
            first = next(frames)
            first.save(output, format="PDF", save_all=True, append_images=frames, resolution=float(dpi))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableForText("The image could not be read.") from exc


def _pdf_ready(frame: Image.Image) -> Image.Image:
    if frame.mode in ("1", "L", "RGB"):
        return frame.copy()
    return frame.convert("RGB")


def ocrmypdf_argv(source: str, output: str, *, languages: list[str], limits: ExtractionLimits) -> list[str]:
    """OCRmyPDF as Quill runs it: PDF/A out, one core, pages with text kept as they are."""
    return [
        sys.executable, "-m", "ocrmypdf",
        "--output-type", "pdfa",
        "--pdfa-backend", "internal",  # pikepdf: Debian 12's Ghostscript 10.0 corrupts PDFs with text
        "--skip-text",
        "--optimize", "0",  # image optimisation costs OCR time and buys little for a scan kept beside its original
        "--jobs", "1",
        "--quiet",
        "--language", "+".join(languages),
        "--tesseract-timeout", str(limits.page_timeout),
        source, output,
    ]  # fmt: skip


def run_ocrmypdf(source: str, output: str, *, languages: list[str], limits: ExtractionLimits) -> None:
    """OCRmyPDF in its own process group, killed with everything it started at the document's time limit."""
    with _process_group(ocrmypdf_argv(source, output, languages=languages, limits=limits)) as process:
        try:
            _, stderr = process.communicate(timeout=limits.document_timeout)
        except subprocess.TimeoutExpired as exc:
            raise TextTimeout(seconds=limits.document_timeout) from exc
    if process.returncode != 0 or not os.path.exists(output):
        message = stderr.decode("utf-8", "replace")[-_OUTPUT_TAIL:]
        raise OcrFailed(f"OCR could not read this file (OCRmyPDF exit {process.returncode}).") from RuntimeError(
            message
        )


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the worker dies (a killed worker leaves no OCR running)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@contextmanager
def _process_group(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    # A process group of its own, so the time limit kills OCRmyPDF's Tesseract and Ghostscript too.
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        process_group=0,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
