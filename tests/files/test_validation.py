"""Sniffing and validation of uploads (pure: no Django settings, no database)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from apps.documents.errors import QuillError
from apps.files.spooling import SpooledFile, spool
from apps.files.validation import ValidatedFile, find_active_pdf_content, sniff, validate
from tests.documents import samples

MAX_PIXELS = 50_000_000


def _spooled(data: bytes, tmp_path) -> SpooledFile:
    return spool([data], max_bytes=len(data) + 1, tmp_dir=str(tmp_path))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(samples.pdf, "application/pdf", id="pdf"),
        pytest.param(samples.jpeg, "image/jpeg", id="jpeg"),
        pytest.param(samples.png, "image/png", id="png"),
        pytest.param(samples.tiff, "image/tiff", id="tiff-little-endian"),
        pytest.param(lambda: b"MM\x00*" + b"\x00" * 64, "image/tiff", id="tiff-big-endian"),
        pytest.param(samples.dicom, "application/dicom", id="dicom"),
        pytest.param(samples.random_binary, None, id="random"),
        pytest.param(samples.windows_executable, None, id="exe"),
        pytest.param(lambda: b"", None, id="empty"),
        pytest.param(lambda: samples.dicom(preamble=b"MZ\x90\x00"), None, id="pe-dicom-polyglot"),
        pytest.param(lambda: samples.dicom(preamble=b"II*\x00"), None, id="tiff-dicom-polyglot"),
    ],
)
def test_sniff_reads_magic_bytes(make: Callable[[], bytes], expected: str | None) -> None:
    # given the first bytes of a file
    head = make()[:4096]
    # when / then
    assert sniff(head) == expected


@pytest.mark.parametrize(
    ("make", "filename", "expected"),
    [
        pytest.param(samples.pdf, "Discharge summary.pdf", ValidatedFile("application/pdf", "pdf"), id="pdf"),
        pytest.param(samples.pdf, "LETTER.PDF", ValidatedFile("application/pdf", "pdf"), id="pdf-upper-case"),
        pytest.param(
            samples.pdf_with_open_action_destination,
            "opens-at-page-1.pdf",
            ValidatedFile("application/pdf", "pdf"),
            id="pdf-open-action-destination-is-harmless",
        ),
        pytest.param(samples.jpeg, "wound.jpg", ValidatedFile("image/jpeg", "jpg"), id="jpg"),
        pytest.param(samples.jpeg, "wound.jpeg", ValidatedFile("image/jpeg", "jpg"), id="jpeg"),
        pytest.param(samples.png, "ecg.png", ValidatedFile("image/png", "png"), id="png"),
        pytest.param(samples.tiff, "scan.tif", ValidatedFile("image/tiff", "tiff"), id="tif"),
        pytest.param(
            lambda: samples.tiff(pages=3, sixteen_bit=True),
            "scan.tiff",
            ValidatedFile("image/tiff", "tiff"),
            id="tiff-16-bit-multipage",
        ),
        pytest.param(samples.dicom, "IM000001", ValidatedFile("application/dicom", "dcm"), id="dicom-no-extension"),
        pytest.param(samples.dicom, "ct.dcm", ValidatedFile("application/dicom", "dcm"), id="dicom-dcm"),
        pytest.param(samples.dicom_image, "ct.dcm", ValidatedFile("application/dicom", "dcm"), id="dicom-image"),
        pytest.param(
            lambda: samples.dicom_image(rows=100, columns=100, frames=5000),
            "cine.dcm",
            ValidatedFile("application/dicom", "dcm"),
            id="dicom-multiframe-at-the-limit",
        ),
        pytest.param(
            lambda: samples.dicom_with_pixel_data(samples.random_binary(4096)),
            "IM000002",
            ValidatedFile("application/dicom", "dcm"),
            id="dicom-opaque-pixel-data",
        ),
    ],
)
def test_validate_accepts_good_files_and_keeps_them(
    make: Callable[[], bytes], filename: str, expected: ValidatedFile, tmp_path
) -> None:
    # given a well-formed file of an allowed type
    spooled = _spooled(make(), tmp_path)
    # when
    result = validate(spooled, filename=filename, max_pixels=MAX_PIXELS)
    # then the real type and the canonical extension come back, and the bytes are still there
    assert result == expected
    assert os.path.exists(spooled.path)
    spooled.discard()


@pytest.mark.parametrize(
    ("make", "filename", "max_pixels", "error_code", "http_status"),
    [
        pytest.param(lambda: b"", "empty.pdf", MAX_PIXELS, "empty_file", 400, id="empty"),
        pytest.param(samples.random_binary, "data.pdf", MAX_PIXELS, "unsupported_type", 415, id="random"),
        pytest.param(samples.windows_executable, "invoice.pdf", MAX_PIXELS, "unsupported_type", 415, id="exe"),
        pytest.param(samples.pdf, "letter.jpg", MAX_PIXELS, "extension_mismatch", 415, id="pdf-named-jpg"),
        pytest.param(samples.pdf, "letter", MAX_PIXELS, "extension_mismatch", 415, id="pdf-without-extension"),
        pytest.param(samples.jpeg, "photo.png", MAX_PIXELS, "extension_mismatch", 415, id="jpeg-named-png"),
        pytest.param(samples.png, "ecg.pdf.exe", MAX_PIXELS, "extension_mismatch", 415, id="double-extension"),
        pytest.param(samples.encrypted_pdf, "a.pdf", MAX_PIXELS, "encrypted_pdf", 400, id="encrypted-pdf"),
        pytest.param(
            lambda: samples.encrypted_pdf(user_password=""),
            "a.pdf",
            MAX_PIXELS,
            "encrypted_pdf",
            400,
            id="owner-password-only-pdf",
        ),
        pytest.param(samples.truncated_pdf, "a.pdf", MAX_PIXELS, "corrupt_file", 400, id="truncated-pdf"),
        pytest.param(samples.garbage_pdf, "a.pdf", MAX_PIXELS, "corrupt_file", 400, id="garbage-pdf"),
        pytest.param(samples.truncated_png, "a.png", MAX_PIXELS, "corrupt_file", 400, id="truncated-png"),
        pytest.param(lambda: samples.jpeg()[:4000], "a.jpg", MAX_PIXELS, "corrupt_file", 400, id="truncated-jpeg"),
        pytest.param(lambda: b"II*\x00" + b"\xff" * 200, "a.tiff", MAX_PIXELS, "corrupt_file", 400, id="garbage-tiff"),
        pytest.param(samples.dicom_without_elements, "a.dcm", MAX_PIXELS, "corrupt_file", 400, id="dicom-no-data"),
        pytest.param(
            lambda: samples.dicom_image()[:-7], "a.dcm", MAX_PIXELS, "corrupt_file", 400, id="dicom-truncated-pixels"
        ),
        pytest.param(
            lambda: samples.dicom_image()[:300], "a.dcm", MAX_PIXELS, "corrupt_file", 400, id="dicom-truncated-header"
        ),
        pytest.param(
            lambda: samples.dicom_image()[:150], "a.dcm", MAX_PIXELS, "corrupt_file", 400, id="dicom-truncated-meta"
        ),
        pytest.param(
            lambda: samples.dicom_image()[: -(12 + 4 * 5)],  # OB Pixel Data: 12-byte header, 4 x 5 bytes
            "a.dcm",
            MAX_PIXELS,
            "corrupt_file",
            400,
            id="dicom-image-cut-before-its-pixels",
        ),
        pytest.param(
            lambda: samples.dicom() + b"\x10\x00\x20\x00LO\xff\x00short",
            "a.dcm",
            MAX_PIXELS,
            "corrupt_file",
            400,
            id="dicom-value-past-the-end",
        ),
        pytest.param(
            lambda: samples.dicom_image(rows=4, columns=5),
            "big.dcm",
            4 * 5 - 1,
            "image_too_large",
            400,
            id="dicom-over-limit",
        ),
        pytest.param(
            lambda: samples.dicom_image(rows=4, columns=5, frames=3),
            "cine.dcm",
            4 * 5 * 3 - 1,
            "image_too_large",
            400,
            id="dicom-frames-over-limit",
        ),
        pytest.param(samples.pixel_bomb_png, "bomb.png", MAX_PIXELS, "image_too_large", 400, id="pixel-bomb"),
        pytest.param(
            lambda: samples.pixel_bomb_png(8_000, 8_000),
            "bomb.png",
            MAX_PIXELS,
            "image_too_large",
            400,
            id="pixel-bomb-under-pillow-limit",
        ),
        pytest.param(samples.jpeg, "big.jpg", 640 * 480 - 1, "image_too_large", 400, id="jpeg-over-limit"),
        pytest.param(
            lambda: samples.tiff(pages=2), "big.tiff", 500 * 700 - 1, "image_too_large", 400, id="tiff-over-limit"
        ),
    ],
)
def test_validate_refuses_bad_files_and_discards_them(
    make: Callable[[], bytes], filename: str, max_pixels: int, error_code: str, http_status: int, tmp_path
) -> None:
    # given a spooled file that must not be accepted
    spooled = _spooled(make(), tmp_path)
    # when
    with pytest.raises(QuillError) as refusal:
        validate(spooled, filename=filename, max_pixels=max_pixels)
    # then the exact refusal is raised and nothing is left on disk
    assert (refusal.value.error_code, refusal.value.http_status) == (error_code, http_status)
    assert refusal.value.message
    assert not os.path.exists(spooled.path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "named"),
    [
        pytest.param(samples.pdf_with_open_action_javascript, {"OpenAction", "JavaScript", "JS"}, id="open-action-js"),
        pytest.param(samples.pdf_with_embedded_file, {"EmbeddedFiles", "EmbeddedFile"}, id="embedded-file"),
        pytest.param(samples.pdf_with_javascript_in_object_stream, {"JavaScript", "JS"}, id="js-in-object-stream"),
        pytest.param(samples.pdf_with_hex_escaped_javascript, {"JavaScript", "JS"}, id="hex-escaped-js-name"),
        pytest.param(samples.pdf_with_annotation_action, {"AA", "Launch"}, id="annotation-launch"),
        pytest.param(samples.pdf_with_xfa_form, {"XFA"}, id="xfa-form"),
    ],
)
def test_validate_refuses_pdf_active_content_naming_it(make: Callable[[], bytes], named: set[str], tmp_path) -> None:
    # given a PDF carrying active content
    spooled = _spooled(make(), tmp_path)
    # when
    with pytest.raises(QuillError) as refusal:
        validate(spooled, filename="letter.pdf", max_pixels=MAX_PIXELS)
    # then it is refused as active content, the message names what was found, and the file is gone
    assert (refusal.value.error_code, refusal.value.http_status) == ("active_content", 400)
    assert named <= set(refusal.value.data["found"])
    assert all(name in refusal.value.message for name in named)
    assert not os.path.exists(spooled.path)


def test_javascript_in_object_stream_is_invisible_to_a_raw_byte_search() -> None:
    # given the compressed-object-stream sample
    data = samples.pdf_with_javascript_in_object_stream()
    # then a regex over raw bytes would have missed it (what the object walk is for)
    assert b"JavaScript" not in data
    assert b"/JS" not in data


def test_active_content_walk_is_bounded(tmp_path) -> None:
    # given a valid PDF and a walk limit smaller than its object count
    from pypdf import PdfReader

    with _spooled(samples.pdf(5), tmp_path) as spooled:
        reader = PdfReader(spooled.path)
        # when / then the walk stops instead of running on
        with pytest.raises(ValueError, match="more than 3 objects"):
            find_active_pdf_content(reader, max_objects=3)


def test_validate_refusal_carries_details_for_bulk_results(tmp_path) -> None:
    # given a PDF named as a photo
    spooled = _spooled(samples.pdf(), tmp_path)
    # when
    with pytest.raises(QuillError) as refusal:
        validate(spooled, filename="C:\\scans\\photo.jpg", max_pixels=MAX_PIXELS)
    # then the refusal says which file and what it really is, without the client's path
    assert refusal.value.data["filename"] == "photo.jpg"
    assert refusal.value.data["content_type"] == "application/pdf"
    assert "photo.jpg" in refusal.value.message
    assert ".pdf" in refusal.value.message
