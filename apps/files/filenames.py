"""Display filenames: cleaning what the client sent, and the RFC 6266 download header.

The original filename is display-only (storage keys never contain it), but it is
shown in pages, sent back in ``Content-Disposition`` and saved by browsers to
disk, so it must not carry paths, control characters or bidi tricks
(``invoice\u202efdp.exe`` showing as ``invoiceexe.pdf``).

Length decision: at most 255 **UTF-8 bytes**, because that is the limit of the
filesystems clinicians save downloads to (ext4, NTFS counts UTF-16 units,
APFS UTF-8 bytes), and bytes are the stricter measure. When truncating, the
extension is kept and the cut never splits a character or strands a
combining mark.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from django.utils.http import content_disposition_header

MAX_FILENAME_BYTES = 255
FALLBACK_STEM = "document"

# Bidi embeddings/overrides, isolates, LRM/RLM, Arabic letter mark, and the BOM / zero-width no-break space.
_INVISIBLE = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c", "\ufeff"]
)
# An extension is a short run of ASCII letters/digits after the last dot ("pdf", "tiff", "dcm").
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")
# RFC 5987 attr-char, besides ALPHA / DIGIT: "!" "#" "$" "&" "+" "-" "." "^" "_" "`" "|" "~"
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


def _without_path(name: str) -> str:
    return re.split(r"[/\\]", name)[-1]


def _without_invisible(name: str) -> str:
    return "".join(ch for ch in name if ch not in _INVISIBLE and unicodedata.category(ch) not in ("Cc", "Cs"))


def _collapse_whitespace(name: str) -> str:
    return " ".join(name.split())


def split_extension(name: str) -> tuple[str, str]:
    """('report.final', 'pdf') for 'report.final.pdf'; ('notes', '') when there is no extension."""
    stem, dot, suffix = name.rpartition(".")
    if dot and _EXTENSION.fullmatch(suffix):
        return stem, suffix
    return name, ""


def _truncate_utf8(text: str, max_bytes: int) -> str:
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    cut = len(text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore"))
    # Don't leave a base character whose accent was cut off.
    while 0 < cut < len(text) and unicodedata.combining(text[cut]):
        cut -= 1
    return text[:cut]


def clean_filename(name: str) -> str:
    """A safe display filename: NFC, no path, no control/bidi characters, ≤ 255 UTF-8 bytes, never empty.

    Leading and trailing dots and spaces are trimmed (no hidden files, and
    Windows cannot save names ending in a dot); a name left with nothing but
    an extension becomes ``document.<ext>``.
    """
    name = unicodedata.normalize("NFC", name)
    name = _without_path(name)
    name = _without_invisible(name)
    name = _collapse_whitespace(name)
    stem, extension = split_extension(name)
    stem = stem.strip(". ")
    suffix = f".{extension}" if extension else ""
    stem = _truncate_utf8(stem, MAX_FILENAME_BYTES - len(suffix)).rstrip(". ")
    return (stem or FALLBACK_STEM) + suffix


def _ascii_fallback(name: str) -> str:
    stem, extension = split_extension(name)
    decomposed = unicodedata.normalize("NFKD", stem)
    ascii_stem = "".join(ch for ch in decomposed if " " <= ch <= "~")
    ascii_stem = _collapse_whitespace(ascii_stem).strip(". ") or FALLBACK_STEM
    return f"{ascii_stem}.{extension}" if extension else ascii_stem


def content_disposition(filename: str, *, as_attachment: bool = True) -> str:
    """``attachment`` (or ``inline``) with an ASCII ``filename=`` fallback and the exact name in ``filename*``.

    Django's ``content_disposition_header`` writes the type and the quoted ASCII fallback; it
    sends ``filename*`` only *instead of* ``filename``, so the RFC 5987 form is added here, after
    the fallback as RFC 6266 appendix D advises, for user agents that need the plain form.
    The name is cleaned first, so no CR/LF or control character can reach the header.
    """
    name = clean_filename(filename)
    encoded = quote(name, safe=_ATTR_CHAR_SAFE, encoding="utf-8")
    return f"{content_disposition_header(as_attachment, _ascii_fallback(name))}; filename*=UTF-8''{encoded}"
