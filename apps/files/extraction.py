"""Text out of a stored file, page by page: the PDF text layer, or OCR for scans and images.

The byte layer's half of search (docs/search.md): it reads a local copy of the original and
never changes it. PDF text layers are read with pypdfium2. A scan (a PDF whose pages carry no
text, or a JPEG/PNG/TIFF, multi-page TIFF included) goes through OCRmyPDF and Tesseract in a
child process, which makes a searchable PDF/A beside the original and is killed at the
document's time limit, so a huge or hostile file costs at most that much time and one
process's memory. The text is then read back from that PDF/A's text layer, so search, the
snippets and the viewer's highlights all come from the same words.

Limits (ExtractionLimits): one time limit covers the whole document (reading the text layer,
wrapping an image, OCR and reading OCR's text back); the page cap is checked from the page or
frame count before anything is decoded; every frame's declared size is checked against the
pixel limit before an image is decoded, and OCRmyPDF refuses page images over it; every child
process (the image wrapper, OCRmyPDF, Tesseract, Ghostscript) runs with a data-segment limit
(RLIMIT_DATA), and images are decoded only in a child, never in the worker.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import IO

import pypdfium2 as pdfium
from PIL import JpegImagePlugin, PngImagePlugin, TiffImagePlugin
from PIL.ImageFile import ImageFile

from apps.files.errors import (
    OcrFailed,
    OcrUnavailable,
    TextTimeout,
    TextUnsupported,
    TooManyPages,
    TooManyPixels,
    UnreadableForText,
)
from apps.files.rendering import PDFIUM_LOCK

IMAGE_TYPES = {"image/jpeg", "image/png", "image/tiff"}
EXTRACTABLE_TYPES = {"application/pdf", *IMAGE_TYPES}
_IMAGE_OPENERS: dict[str, Callable[[str], ImageFile]] = {
    "image/jpeg": JpegImagePlugin.JpegImageFile,
    "image/png": PngImagePlugin.PngImageFile,
    "image/tiff": TiffImagePlugin.TiffImageFile,
}
# A page with fewer letters than this has no usable text layer (a scanner's stamp, a page number).
MIN_TEXT_CHARACTERS = 20
DEFAULT_IMAGE_DPI = 300  # for images that do not say their resolution (most phone photos)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_OUTPUT_TAIL = 2000  # of OCRmyPDF's messages kept for the failure reason's log
_IMAGE_PDF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "image_pdf.py")
_IMAGE_UNREADABLE = 4  # image_pdf.py's exit status for an image it could not read
_IMAGE_OUT_OF_MEMORY = 5  # ... and for one it ran out of memory decoding


@dataclass(frozen=True)
class ExtractionLimits:
    page_timeout: float  # Tesseract's time per page; a page over it is left without OCR text
    document_timeout: float  # the whole document (text layer, image, OCR); over it, the document fails
    max_pages: int
    max_pixels: int = 50_000_000  # one page image's declared pixels, checked before it is decoded
    memory_mb: int = 1024  # RLIMIT_DATA of each child process (image wrapper, OCRmyPDF, Tesseract, Ghostscript)


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
    # The largest resident set of any child process the extraction ran (kernel's ru_maxrss), 0 without one.
    child_peak_rss_kib: int = 0

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


def pdf_text_pages(path: str, *, max_pages: int, deadline: float | None = None, timeout: float = 0) -> list[str]:
    """The text layer of each page (an empty string for a page without one), one page open at a time.

    `deadline` (time.monotonic()) is checked before each page: past it, TextTimeout(`timeout`).
    """
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
                if deadline is not None and time.monotonic() > deadline:
                    raise TextTimeout(seconds=timeout)
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
    always gives its text, even when OCR is unavailable. `limits.document_timeout` bounds the whole call.
    """
    deadline = time.monotonic() + limits.document_timeout
    timeout = limits.document_timeout
    peak = 0
    if content_type == "application/pdf":
        pages = pdf_text_pages(path, max_pages=limits.max_pages, deadline=deadline, timeout=timeout)
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
        peak = image_to_pdf(path, source, content_type=content_type, limits=limits, deadline=deadline)
    else:
        raise TextUnsupported()
    output = os.path.join(workdir, "searchable.pdf")
    peak = max(peak, run_ocrmypdf(source, output, languages=languages, limits=limits, deadline=deadline))
    pages = pdf_text_pages(output, max_pages=limits.max_pages, deadline=deadline, timeout=timeout)
    return ExtractedText(pages=pages, method="ocr", searchable_pdf=output, child_peak_rss_kib=peak)


def check_image(path: str, content_type: str, *, max_pages: int, max_pixels: int) -> None:
    """Refuse an image by its frame count and every frame's declared size, without decoding a pixel.

    The format's own reader is used, not Image.open, whose decompression-bomb check would refuse
    at Pillow's global limit instead of Quill's (and without the size).
    """
    opener = _IMAGE_OPENERS[content_type]
    try:
        with opener(path) as image:
            count = getattr(image, "n_frames", 1)
            if count > max_pages:
                raise TooManyPages(pages=count, max_pages=max_pages)
            for frame in range(count):
                image.seek(frame)  # a TIFF's next directory: its header, not its pixels
                width, height = image.size
                if width * height > max_pixels:
                    raise TooManyPixels(width=width, height=height, max_pixels=max_pixels)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnreadableForText("The image could not be read.") from exc


def image_to_pdf(
    path: str, output: str, *, content_type: str, limits: ExtractionLimits, deadline: float | None = None
) -> int:
    """Wrap a JPEG, PNG or TIFF (every frame of a multi-page TIFF) in a PDF for OCRmyPDF, at its own DPI.

    The frames are checked first (check_image); the decoding happens in a child process under the
    limits (apps/files/image_pdf.py). Returns the child's peak RSS in KiB.
    """
    check_image(path, content_type, max_pages=limits.max_pages, max_pixels=limits.max_pixels)
    argv = [sys.executable, _IMAGE_PDF, path, output, str(DEFAULT_IMAGE_DPI), str(limits.max_pixels)]
    returncode, stderr, peak = run_limited(argv, limits=limits, deadline=deadline)
    if returncode != 0 or not os.path.exists(output):
        if returncode == _IMAGE_UNREADABLE:
            raise UnreadableForText("The image could not be read.") from RuntimeError(stderr)
        if returncode == _IMAGE_OUT_OF_MEMORY:
            raise OcrFailed(
                f"The image needs more memory than the limit of {limits.memory_mb:,} MB to prepare for OCR."
            ) from RuntimeError(stderr)
        raise OcrFailed(f"The image could not be prepared for OCR (exit {returncode}).") from RuntimeError(stderr)
    return peak


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
        "--max-image-mpixels", f"{limits.max_pixels / 1_000_000:g}",
        source, output,
    ]  # fmt: skip


def run_ocrmypdf(
    source: str, output: str, *, languages: list[str], limits: ExtractionLimits, deadline: float | None = None
) -> int:
    """OCRmyPDF under the limits, killed with everything it started at the deadline; returns its peak RSS (KiB).

    The peak is the largest resident set of OCRmyPDF or any process it started and waited for
    (Tesseract, Ghostscript): the kernel's ru_maxrss of the process tree, not their sum.
    """
    argv = ocrmypdf_argv(source, output, languages=languages, limits=limits)
    returncode, stderr, peak = run_limited(argv, limits=limits, deadline=deadline)
    if returncode != 0 and "decompression bomb" in stderr:  # a page image over --max-image-mpixels
        raise TooManyPixels(max_pixels=limits.max_pixels) from RuntimeError(stderr)
    if returncode != 0 or not os.path.exists(output):
        raise OcrFailed(f"OCR could not read this file (OCRmyPDF exit {returncode}).") from RuntimeError(stderr)
    return peak


def run_limited(argv: list[str], *, limits: ExtractionLimits, deadline: float | None = None) -> tuple[int, str, int]:
    """Run `argv` in a process group of its own, under RLIMIT_DATA, dying with the worker.

    Past `deadline` (time.monotonic(); else now + the document timeout) the whole group is killed
    and TextTimeout raised. Returns (exit status, the tail of its stderr, peak RSS in KiB).
    """
    deadline = time.monotonic() + limits.document_timeout if deadline is None else deadline
    memory = limits.memory_mb * 1024 * 1024
    with tempfile.TemporaryFile() as stderr, _process_group(argv, stderr=stderr, memory=memory) as process:
        status, peak = _wait(process, deadline)
        if status is None:
            raise TextTimeout(seconds=limits.document_timeout)
        stderr.seek(max(0, os.fstat(stderr.fileno()).st_size - _OUTPUT_TAIL))
        return status, stderr.read().decode("utf-8", "replace"), peak


def _wait(process: subprocess.Popen[bytes], deadline: float) -> tuple[int | None, int]:
    """Reap the child with wait4 (its rusage, which Popen does not give) by the deadline; (None, 0) if it ran on."""
    pidfd = os.pidfd_open(process.pid) if hasattr(os, "pidfd_open") else None
    try:
        while True:
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else (as Popen does then: status unknown, 0)
                process.returncode = 0
                return 0, 0
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return process.returncode, usage.ru_maxrss
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, 0
            if pidfd is None:
                time.sleep(min(remaining, 0.05))
            else:
                select.select([pidfd], [], [], remaining)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _child_setup(memory: int) -> Callable[[], None]:
    def setup() -> None:
        """In the child before exec: a data-segment limit, and SIGKILL if the worker dies (no OCR left running)."""
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        if sys.platform == "linux":
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return setup


@contextmanager
def _process_group(argv: list[str], *, stderr: IO[bytes], memory: int) -> Iterator[subprocess.Popen[bytes]]:
    # A process group of its own, so the time limit kills OCRmyPDF's Tesseract and Ghostscript too.
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        process_group=0,
        preexec_fn=_child_setup(memory),
    )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # and whatever it left behind in its group
        if process.returncode is None:
            process.wait()
