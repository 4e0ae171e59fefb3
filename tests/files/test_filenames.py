"""Display filenames and the download header."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

import pytest

from apps.files.filenames import clean_filename, content_disposition


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("Discharge summary.pdf", "Discharge summary.pdf", id="plain"),
        pytest.param("../../etc/passwd", "passwd", id="posix-traversal"),
        pytest.param("C:\\Users\\dr\\scan.tiff", "scan.tiff", id="windows-path"),
        pytest.param("a/b\\c.pdf", "c.pdf", id="mixed-separators"),
        pytest.param("report\x00\x1b[31m.pdf", "report[31m.pdf", id="control-chars"),
        pytest.param("invoice\u202efdp.exe", "invoicefdp.exe", id="right-to-left-override"),
        pytest.param("\u2066x\u2069\u200e\u200f\u061cy.pdf", "xy.pdf", id="isolates-and-marks"),
        pytest.param("  many \t spaces\n here .pdf", "many spaces here.pdf", id="whitespace-collapsed"),
        pytest.param("...hidden.pdf", "hidden.pdf", id="leading-dots"),
        pytest.param(" . report.pdf", "report.pdf", id="leading-dot-space"),
        pytest.param("report.", "report", id="trailing-dot"),
        pytest.param("Cafe\u0301.pdf", "Café.pdf", id="nfc"),
        pytest.param("", "document", id="empty"),
        pytest.param(".pdf", "document.pdf", id="only-extension"),
        pytest.param("../", "document", id="only-path"),
        pytest.param("\u202e\x00", "document", id="only-invisible"),
        pytest.param("Smith, J. - letter", "Smith, J. - letter", id="dot-not-an-extension"),
        pytest.param("检查报告.pdf", "检查报告.pdf", id="cjk-kept"),
    ],
)
def test_clean_filename(given: str, expected: str) -> None:
    assert clean_filename(given) == expected


@pytest.mark.parametrize(
    "stem",
    [
        pytest.param("a" * 400, id="ascii"),
        pytest.param("报" * 200, id="three-byte-chars"),
        pytest.param("e\u0301" * 200, id="combining-marks-nfc"),
        pytest.param("x\u0330" * 200, id="combining-marks-without-precomposed-form"),
    ],
)
def test_clean_filename_truncates_to_255_utf8_bytes_keeping_the_extension(stem: str) -> None:
    # given an over-long name / when
    cleaned = clean_filename(stem + ".pdf")
    # then it fits 255 UTF-8 bytes, keeps its extension, and does not end in a stranded accent
    assert len(cleaned.encode("utf-8")) <= 255
    assert cleaned.endswith(".pdf")
    assert len(cleaned) > 50
    assert not unicodedata.combining(cleaned[0])
    assert cleaned == unicodedata.normalize("NFC", cleaned)
    before_extension = cleaned[: -len(".pdf")]
    assert not (before_extension.endswith("x") and stem.startswith("x\u0330")), "accent cut off its letter"


@pytest.mark.parametrize(
    ("given", "fallback", "exact"),
    [
        pytest.param("letter.pdf", "letter.pdf", "letter.pdf", id="ascii"),
        pytest.param("Résumé clinique.pdf", "Resume clinique.pdf", "Résumé clinique.pdf", id="accents"),
        pytest.param("检查报告.pdf", "document.pdf", "检查报告.pdf", id="cjk"),
        pytest.param('say "hi".pdf', 'say \\"hi\\".pdf', 'say "hi".pdf', id="quotes-escaped"),
        pytest.param('dir\\say "hi".pdf', 'say \\"hi\\".pdf', 'say "hi".pdf', id="backslash-is-a-path"),
        pytest.param("100% done;a=b.pdf", "100% done;a=b.pdf", "100% done;a=b.pdf", id="separators"),
    ],
)
def test_content_disposition(given: str, fallback: str, exact: str) -> None:
    # when
    header = content_disposition(given)
    # then it is an attachment with an ASCII fallback and the exact name percent-encoded (RFC 6266 / 5987)
    prefix = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''"
    assert header.startswith(prefix)
    encoded = header[len(prefix) :]
    assert all(ch.isascii() and ch not in ' ";\\' for ch in encoded)
    assert unquote(encoded, encoding="utf-8") == exact
    header.encode("latin-1")  # a legal HTTP header value


def test_content_disposition_cannot_inject_headers() -> None:
    header = content_disposition("a\r\nSet-Cookie: x=1.pdf")
    assert "\r" not in header and "\n" not in header


def test_content_disposition_inline_has_the_same_parameters() -> None:
    header = content_disposition("Résumé.pdf", as_attachment=False)

    assert header == "inline; filename=\"Resume.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9.pdf"
