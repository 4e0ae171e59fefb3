"""What an upload really is, and whether Quill will accept it.

The type comes from the file's magic bytes, never from the client's
``Content-Type``; the filename's extension must agree with it; then one deep
check per type proves the file opens (PDF parses without encryption or active
content, images decode within a pixel limit, DICOM's header parses with pydicom
and declares no more pixels than that limit).

Each check is one small function raising a typed refusal from
:mod:`apps.documents.errors`. :func:`validate` discards the spooled temp file
on any refusal, so a refused upload leaves nothing on disk.

Decisions:

* DICOM may have a ``.dcm``/``.dicom`` extension or none at all: modality
  exports and CD images name files ``IM000001`` and similar. Every other type
  needs its extension (a PDF called ``letter`` is refused with a rename hint).
* A file matching two signatures (a polyglot such as a TIFF or PE header in a
  DICOM preamble) is refused as unsupported: it would open differently in
  different programs.
* PDF ``/OpenAction`` with a destination array (``[page /Fit]``, written by
  LibreOffice and others to set the opening view) is accepted; an
  ``/OpenAction`` holding an action dictionary is refused with the rest of
  the active content.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError
from pydicom import config as pydicom_config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import read_file_meta_info, read_partial
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    PdfObject,
)

from apps.files.errors import (
    ActiveContent,
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ExtensionMismatch,
    ImageTooLarge,
    UnsupportedType,
)
from apps.files.filenames import clean_filename, split_extension
from apps.files.spooling import SpooledFile

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
DICOM = "application/dicom"

# Accepted extensions per sniffed type; the first is the canonical one used in storage keys.
# "" means "no extension" (DICOM only).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: ("pdf",),
    JPEG: ("jpg", "jpeg"),
    PNG: ("png",),
    TIFF: ("tiff", "tif"),
    DICOM: ("dcm", "dicom", ""),
}
PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", TIFF: "TIFF"}

# PDF names that run code, act on their own, or smuggle files (/EF: a filespec's embedded stream).
# Matched both as dictionary keys and as name values (/S /JavaScript, /Type /EmbeddedFile).
ACTIVE_PDF_NAMES = frozenset(
    ["/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/EF", "/XFA"]
)
MAX_PDF_OBJECTS = 500_000  # walk bound: far above real clinical PDFs, far below a hang
MAX_IMAGE_FRAMES = 1_000  # multi-page TIFF scans
PDF_TAIL_BYTES = 1024

_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    (PDF, lambda head: head.startswith(b"%PDF-")),
    (JPEG, lambda head: head.startswith(b"\xff\xd8\xff")),
    (PNG, lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    (TIFF, lambda head: head.startswith((b"II*\x00", b"MM\x00*"))),
    (DICOM, lambda head: head[128:132] == b"DICM"),
)
# Headers of other formats that must not hide in a DICOM preamble (PE-DICOM malware, polyglots).
_FOREIGN_PREAMBLES = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"PK\x03\x04", b"#!")


@dataclass(frozen=True)
class ValidatedFile:
    """The sniffed ``content_type`` and canonical ``extension`` (no dot) for the storage key."""

    content_type: str
    extension: str


def sniff(head: bytes) -> str | None:
    """The content type from magic bytes, or None when unknown or ambiguous (a polyglot)."""
    matches = [content_type for content_type, matches in _SIGNATURES if matches(head)]
    if matches == [DICOM] and head[:128].startswith(_FOREIGN_PREAMBLES):
        return None
    return matches[0] if len(matches) == 1 else None


def validate(spooled: SpooledFile, *, filename: str, max_pixels: int) -> ValidatedFile:
    """Run every check for this file; on any refusal the temp file is discarded and the error raised."""
    try:
        _check_not_empty(spooled)
        content_type = _check_known_type(spooled)
        extension = _check_extension(filename, content_type)
        _DEEP_CHECKS[content_type](spooled, max_pixels)
    except BaseException:
        spooled.discard()
        raise
    return ValidatedFile(content_type=content_type, extension=extension)


# --- checks for every file ---------------------------------------------------------------


def _check_not_empty(spooled: SpooledFile) -> None:
    if spooled.size == 0:
        raise EmptyFile()


def _check_known_type(spooled: SpooledFile) -> str:
    content_type = sniff(spooled.head)
    if content_type is None:
        raise UnsupportedType()
    return content_type


def _check_extension(filename: str, content_type: str) -> str:
    """The canonical extension when the name's extension is one allowed for the sniffed type."""
    name = clean_filename(filename)
    _, extension = split_extension(name)
    allowed = EXTENSIONS[content_type]
    if extension.lower() not in allowed:
        raise ExtensionMismatch(filename=name, content_type=content_type, allowed=allowed)
    return allowed[0]


# --- PDF -----------------------------------------------------------------------------------


def _check_pdf(spooled: SpooledFile, max_pixels: int) -> None:
    _check_pdf_has_end(spooled)
    # An open file, not a path: given a path, pypdf reads the whole file into memory.
    with spooled.open() as stream:
        reader = _check_pdf_parses(stream)
        _check_pdf_not_encrypted(reader)
        _check_pdf_has_pages(reader)
        _check_pdf_no_active_content(reader)


def _check_pdf_has_end(spooled: SpooledFile) -> None:
    """A PDF ends with %%EOF; without it the upload was most likely cut short."""
    with spooled.open() as reader:
        reader.seek(max(0, spooled.size - PDF_TAIL_BYTES))
        if b"%%EOF" not in reader.read():
            raise CorruptFile()


def _check_pdf_parses(stream: BinaryIO) -> PdfReader:
    try:
        return PdfReader(stream, strict=False)
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError, OSError) as exc:
        raise CorruptFile() from exc


def _check_pdf_not_encrypted(reader: PdfReader) -> None:
    if reader.is_encrypted:
        raise EncryptedPdf()


def _check_pdf_has_pages(reader: PdfReader) -> None:
    try:
        page_count = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise CorruptFile() from exc
    if page_count < 1:
        raise CorruptFile()


def _check_pdf_no_active_content(reader: PdfReader) -> None:
    try:
        found = find_active_pdf_content(reader)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise CorruptFile() from exc
    if found:
        raise ActiveContent(found=[name.lstrip("/") for name in found])


def find_active_pdf_content(reader: PdfReader, *, max_objects: int = MAX_PDF_OBJECTS) -> set[str]:
    """Active-content names reachable from the trailer, by an iterative, bounded walk of pypdf objects.

    Walking resolved objects (not a regex over raw bytes) sees names inside
    compressed object streams and hex-escaped names (``/J#61vaScript``). Stream
    dictionaries are inspected, stream data is not decoded. Covers the catalog,
    names tree, pages, annotations, AcroForm, outlines: everything reachable.
    """
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    pending: list[PdfObject] = [reader.trailer]
    visited = 0
    while pending:
        node: PdfObject | None = pending.pop()  # a reference to a missing object resolves to None
        if isinstance(node, IndirectObject):
            key = (node.idnum, node.generation)
            if key in seen:
                continue
            seen.add(key)
            node = node.get_object()
        visited += 1
        if visited > max_objects:
            raise ValueError(f"PDF has more than {max_objects} objects")
        if isinstance(node, DictionaryObject):
            for name, value in node.items():
                if name in ACTIVE_PDF_NAMES and not _is_harmless_open_action(name, value):
                    found.add(str(name))
                pending.append(value)
        elif isinstance(node, ArrayObject):
            pending.extend(node)
        elif isinstance(node, NameObject) and node in ACTIVE_PDF_NAMES:
            found.add(str(node))
    return found


def _is_harmless_open_action(name: str, value: PdfObject) -> bool:
    """/OpenAction [page /Fit] only sets the opening view; an action dictionary does something."""
    return name == "/OpenAction" and isinstance(value.get_object(), ArrayObject)


# --- images --------------------------------------------------------------------------------


def _check_image(spooled: SpooledFile, max_pixels: int) -> None:
    image_format = PILLOW_FORMATS[sniff(spooled.head) or ""]
    try:
        with Image.open(spooled.path, formats=[image_format]) as image:
            _check_image_frame_count(image)
            for frame in range(getattr(image, "n_frames", 1)):
                image.seek(frame)
                _check_image_pixels(image, max_pixels)
                _check_image_decodes(image)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(max_pixels=max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFile() from exc


def _check_image_frame_count(image: Image.Image) -> None:
    if getattr(image, "n_frames", 1) > MAX_IMAGE_FRAMES:
        raise CorruptFile(
            f"This image has more than {MAX_IMAGE_FRAMES:,} pages, more than Quill accepts in one file. "
            "Split it into several files and upload those."
        )


def _check_image_pixels(image: Image.Image, max_pixels: int) -> None:
    """Refuse by declared size, before a single pixel is decoded."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(width=width, height=height, max_pixels=max_pixels)


def _check_image_decodes(image: Image.Image) -> None:
    image.load()  # raises on truncated or malformed pixel data


# --- DICOM ---------------------------------------------------------------------------------

# Pixel Data, Float Pixel Data, Double Float Pixel Data: where the header ends.
_DICOM_PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_DICOM_UNDEFINED_LENGTH = 0xFFFFFFFF
# The file meta elements start after the preamble, 'DICM' and the 12-byte group length element.
_DICOM_FILE_META_START = 128 + 4 + 12
# Values longer than this are skipped, not read: the header check needs only the element lengths.
_DICOM_DEFER_BYTES = 4096
_DICOM_PARSE_ERRORS = (
    InvalidDicomError,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    NotImplementedError,
    BytesLengthException,  # a value of the wrong length for its VR
    RecursionError,
    OverflowError,
    struct.error,
)


@dataclass(frozen=True)
class _DicomHeader:
    """The data set as far as the pixel data, and where the file meta and the pixel data say they end."""

    dataset: FileDataset
    file_meta_end: int | None  # from the File Meta Information Group Length, when there is one
    reached_pixel_data: bool
    pixel_data_end: int | None  # None: no pixel data, or encapsulated (undefined length)


def _check_dicom(spooled: SpooledFile, max_pixels: int) -> None:
    meta = _check_dicom_file_meta(spooled)
    if meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        # pydicom inflates the whole data set in memory to read it: a zip bomb. Nothing in
        # Quill decodes DICOM, so a deflated file is stored on its file meta alone.
        return
    header = _check_dicom_parses(spooled, meta)
    _check_dicom_values_in_file(header, spooled.size)
    _check_dicom_nothing_cut_off(header, spooled.size)
    _check_dicom_image_has_pixels(header)
    _check_dicom_pixels(header.dataset, max_pixels)


def _check_dicom_file_meta(spooled: SpooledFile) -> FileMetaDataset:
    """After 'DICM' comes the file meta group; its Transfer Syntax UID (type 1) says how to read the rest."""
    try:
        meta = read_file_meta_info(spooled.path)
        transfer_syntax = meta.get("TransferSyntaxUID")
    except _DICOM_PARSE_ERRORS as exc:
        raise CorruptFile() from exc
    if not transfer_syntax:
        raise CorruptFile()
    return meta


def _check_dicom_parses(spooled: SpooledFile, meta: FileMetaDataset) -> _DicomHeader:
    """pydicom reads every element before the pixel data; the pixel data itself is never read."""
    pixel_data: list[int | None] = []
    with spooled.open() as stream:

        def at_pixel_data(tag: int, vr: str | None, length: int) -> bool:
            if tag not in _DICOM_PIXEL_DATA_TAGS:
                return False
            # Called with the stream at the start of the value.
            pixel_data.append(None if length == _DICOM_UNDEFINED_LENGTH else stream.tell() + length)
            return True

        try:
            with pydicom_config.strict_reading():
                dataset = read_partial(stream, stop_when=at_pixel_data, defer_size=_DICOM_DEFER_BYTES)
            group_length = meta.get("FileMetaInformationGroupLength")
        except _DICOM_PARSE_ERRORS as exc:
            raise CorruptFile() from exc
    return _DicomHeader(
        dataset=dataset,
        file_meta_end=_DICOM_FILE_META_START + int(group_length) if group_length is not None else None,
        reached_pixel_data=bool(pixel_data),
        pixel_data_end=pixel_data[0] if pixel_data else None,
    )


def _check_dicom_values_in_file(header: _DicomHeader, size: int) -> None:
    """Every value the header declares is in the file: pydicom reads a value cut short without complaint."""
    if header.pixel_data_end is not None and header.pixel_data_end > size:
        raise CorruptFile()
    for element in _dicom_raw_elements(header.dataset):
        value_end = element.value_tell + element.length
        short_value = element.value is not None and len(element.value) < element.length
        if value_end > size or short_value:
            raise CorruptFile()


def _check_dicom_nothing_cut_off(header: _DicomHeader, size: int) -> None:
    """Without pixel data the file ends where its last element does.

    pydicom reads an element header cut mid-way as the end of the data set, so only the
    lengths show that the file was cut there.
    """
    if header.reached_pixel_data:
        return
    elements = list(header.dataset.elements())
    if elements:
        last = max(elements, key=lambda element: getattr(element, "value_tell", -1))
        if not isinstance(last, RawDataElement) or last.length == _DICOM_UNDEFINED_LENGTH:
            return  # a sequence of undefined length: where it ends is not declared
        data_end: int | None = last.value_tell + last.length
    else:
        data_end = header.file_meta_end
    if data_end is not None and data_end != size:
        raise CorruptFile()


def _check_dicom_image_has_pixels(header: _DicomHeader) -> None:
    """An image (Rows and Columns) with no Pixel Data was cut off between two elements."""
    if not header.reached_pixel_data and "Rows" in header.dataset and "Columns" in header.dataset:
        raise CorruptFile()


def _dicom_raw_elements(dataset: FileDataset) -> Iterator[RawDataElement]:
    """The top-level elements as read (``elements()`` does not convert them), with a declared length."""
    for element in dataset.elements():
        if isinstance(element, RawDataElement) and element.length != _DICOM_UNDEFINED_LENGTH:
            yield element


def _check_dicom_pixels(dataset: FileDataset, max_pixels: int) -> None:
    """Refuse by declared size (rows × columns × frames), as for other images; no pixel is decoded."""
    try:
        rows = int(dataset.get("Rows") or 0)
        columns = int(dataset.get("Columns") or 0)
        frames = int(dataset.get("NumberOfFrames") or 1)
    except _DICOM_PARSE_ERRORS as exc:
        raise CorruptFile() from exc
    if rows < 0 or columns < 0 or frames < 1:
        raise CorruptFile()
    if rows * columns * frames > max_pixels:
        raise ImageTooLarge(width=columns, height=rows, max_pixels=max_pixels)


_DEEP_CHECKS: dict[str, Callable[[SpooledFile, int], None]] = {
    PDF: _check_pdf,
    JPEG: _check_image,
    PNG: _check_image,
    TIFF: _check_image,
    DICOM: _check_dicom,
}

__all__ = [
    "DICOM",
    "EXTENSIONS",
    "JPEG",
    "PDF",
    "PNG",
    "TIFF",
    "ValidatedFile",
    "find_active_pdf_content",
    "sniff",
    "validate",
]
