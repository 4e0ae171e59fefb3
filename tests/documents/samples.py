"""Sample upload files generated in code (no binary fixtures in the repository).

Every function returns the file's bytes and runs in milliseconds, so the API and
browser tests can reuse them freely. Hand-built PDFs use :func:`handmade_pdf`,
which writes a correct cross-reference table around the objects it is given.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

EXIF_ORIENTATION = 0x0112


# --- PDF -------------------------------------------------------------------------------------


def pdf(pages: int = 3, *, title: str = "Discharge summary") -> bytes:
    """A valid, plain multi-page A4 PDF with text on every page."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    document.setTitle(title)
    for number in range(1, pages + 1):
        document.setFont("Helvetica", 14)
        document.drawString(72, 760, f"{title} — page {number} of {pages}")
        document.rect(72, 500, 200, 100)
        document.showPage()
    document.save()
    return buffer.getvalue()


def _rewrite(source: bytes, change: Callable[[PdfWriter], object]) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(source)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(*, user_password: str = "secret") -> bytes:  # noqa: S107 - a sample, not a secret
    """A PDF encrypted with RC4-128 (no extra package needed); ``user_password=""`` gives owner-password-only."""
    return _rewrite(pdf(2), lambda writer: writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128"))


def pdf_with_open_action_javascript(script: str = "app.alert('hello');") -> bytes:
    """A PDF whose catalog runs JavaScript as soon as it is opened."""

    def add(writer: PdfWriter) -> None:
        action = DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(script)}
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)

    return _rewrite(pdf(1), add)


def pdf_with_embedded_file(name: str = "payload.txt", data: bytes = b"hidden content") -> bytes:
    """A PDF carrying an attached file in its /EmbeddedFiles name tree."""
    return _rewrite(pdf(1), lambda writer: writer.add_attachment(name, data))


def handmade_pdf(objects: list[bytes], *, header: bytes = b"%PDF-1.7") -> bytes:
    """A classic-xref PDF from object bodies; object 1 must be the catalog, numbering follows the list."""
    out = bytearray(header + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def _page(extra: bytes = b"") -> bytes:
    return b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] %s >>" % extra


def pdf_with_open_action_destination() -> bytes:
    """Harmless: /OpenAction is a destination array (open at page 1, fit to window), as LibreOffice writes."""
    return handmade_pdf([b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>", _PAGES, _page()])


def pdf_with_hex_escaped_javascript() -> bytes:
    """JavaScript spelled /J#61vaScript in the document-level names tree: a raw-bytes search misses it."""
    return handmade_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Names << /J#61vaScript 4 0 R >> >>",
            _PAGES,
            _page(),
            b"<< /Names [(startup) 5 0 R] >>",
            b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>",
        ]
    )


def pdf_with_annotation_action() -> bytes:
    """A link annotation whose additional action (/AA) launches a program."""
    return handmade_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            _PAGES,
            _page(b"/Annots [4 0 R]"),
            b"<< /Type /Annot /Subtype /Link /Rect [0 0 100 100] /AA << /E 5 0 R >> >>",
            b"<< /S /Launch /F (cmd.exe) >>",
        ]
    )


def pdf_with_xfa_form() -> bytes:
    """An AcroForm carrying an XFA form (XML forms with their own scripting)."""
    return handmade_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [] /XFA 4 0 R >> >>",
            _PAGES,
            _page(),
            b"<< /Length 7 >>\nstream\n<xdp/>\n\nendstream",
        ]
    )


def pdf_with_javascript_in_object_stream() -> bytes:
    """PDF 1.5 whose catalog and JavaScript action live in a Flate-compressed object stream.

    None of the names appear in the raw bytes, so only an object-graph walk finds them.
    """
    compressed = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        _PAGES,
        _page(),
        b"<< /S /JavaScript /JS (app.alert\\('compressed'\\)) >>",
    ]
    index, body = [], b""
    for number, obj in enumerate(compressed, start=1):
        index.append(b"%d %d" % (number, len(body)))
        body += obj + b"\n"
    index_bytes = b" ".join(index) + b"\n"
    stream = zlib.compress(index_bytes + body)

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    objstm_at = len(out)
    out += b"5 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        len(compressed),
        len(index_bytes),
        len(stream),
    )
    out += stream + b"\nendstream\nendobj\n"
    xref_at = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 2, 5, position) for position in range(len(compressed))]
    rows += [struct.pack(">BIH", 1, objstm_at, 0), struct.pack(">BIH", 1, xref_at, 0)]
    xref = b"".join(rows)
    out += b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(xref)
    out += xref + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def truncated_pdf() -> bytes:
    """A valid PDF cut off half-way, as an interrupted transfer leaves it."""
    whole = pdf(3)
    return whole[: len(whole) // 2]


def garbage_pdf() -> bytes:
    """Starts like a PDF and ends like one, with nothing parseable in between."""
    return b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


# --- images ----------------------------------------------------------------------------------


def _picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """An asymmetric picture (red block top-left) so orientation mistakes show up in tests."""
    image = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 3, height // 3), fill=(200, 20, 20))
    draw.line((0, height - 1, width - 1, 0), fill=(20, 20, 200), width=3)
    return image.convert(mode)


def jpeg(width: int = 640, height: int = 480, *, orientation: int | None = 6) -> bytes:
    """A JPEG photo; orientation 6 means 'rotate 90° clockwise to display' (a phone held upright)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[EXIF_ORIENTATION] = orientation
    buffer = io.BytesIO()
    _picture(width, height).save(buffer, format="JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def png(width: int = 400, height: int = 300, *, mode: str = "RGBA") -> bytes:
    buffer = io.BytesIO()
    _picture(width, height, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def tiff(width: int = 500, height: int = 700, *, pages: int = 1, sixteen_bit: bool = False) -> bytes:
    """A (multi-page) TIFF scan; ``sixteen_bit`` gives an I;16 greyscale image as scanners and PACS export."""
    frames = []
    for page in range(pages):
        if sixteen_bit:
            frame = Image.linear_gradient("L").resize((width, height)).convert("I").point(lambda v: v * 200)
            frames.append(frame.convert("I;16"))
        else:
            frames.append(_picture(width, height).rotate(page * 90, expand=True))
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", compression="tiff_deflate", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def truncated_png() -> bytes:
    whole = png(300, 300, mode="RGB")
    return whole[: len(whole) - 200]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG that declares a huge canvas (default 10 gigapixels) in a few dozen bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


# --- DICOM and others -----------------------------------------------------------------------


def _dicom_element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def dicom(*, preamble: bytes = b"") -> bytes:
    """A minimal Part 10 file: preamble, 'DICM', file meta group, and a patient name."""
    meta = (
        _dicom_element(0x0002, 0x0001, b"OB", b"\x00\x01")
        + _dicom_element(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7")  # Secondary Capture
        + _dicom_element(0x0002, 0x0003, b"UI", b"1.2.826.0.1.3680043.10.1")
        + _dicom_element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1")  # explicit VR little endian
    )
    group_length = _dicom_element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta)))
    dataset = _dicom_element(0x0010, 0x0010, b"PN", b"TEST^PATIENT") + _dicom_element(0x0008, 0x0060, b"CS", b"OT")
    return preamble.ljust(128, b"\x00")[:128] + b"DICM" + group_length + meta + dataset


def dicom_image(*, rows: int = 4, columns: int = 5, frames: int | None = None) -> bytes:
    """A valid Part 10 Secondary Capture image written by pydicom: 8-bit monochrome, all black."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.PatientName = "TEST^PATIENT"
    dataset.Modality = "OT"
    dataset.Rows, dataset.Columns = rows, columns
    if frames is not None:
        dataset.NumberOfFrames = frames
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = bytes(rows * columns * (frames or 1))
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def dicom_with_pixel_data(pixels: bytes) -> bytes:
    """The minimal sample followed by an OB Pixel Data element holding `pixels` (which may be noise)."""
    return dicom() + _dicom_element(0x7FE0, 0x0010, b"OB", pixels)


def dicom_without_elements() -> bytes:
    """Preamble and 'DICM' and nothing after."""
    return b"\x00" * 128 + b"DICM"


def random_binary(size: int = 8192, *, seed: int = 7) -> bytes:
    """Deterministic noise that matches no signature."""
    data = random.Random(seed).randbytes(size)
    return b"\x00\x01" + data[2:]


def windows_executable() -> bytes:
    """The start of a PE executable ('MZ' header and DOS stub message)."""
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    header = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    return header.ljust(0x40, b"\x00") + stub.ljust(0x40, b"\x00") + b"PE\x00\x00" + b"\x00" * 256
