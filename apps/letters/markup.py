"""The letter body's light markup, parsed once for both the HTML preview and the PDF.

The rules the letter form's help text promises (``HELP_TEXT``), and nothing more: blank
lines separate paragraphs (other line breaks are kept), a line starting ``# `` is a
heading, lines starting ``- `` form a bulleted list, and ``**words**`` are bold. The
renderers escape every piece of text for their own format.

The PDF closes with "Yours sincerely," unless the text already ends with a sign-off
(``ends_with_sign_off``), so a letter never signs off twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HELP_TEXT = (
    "Leave a blank line between paragraphs. Start a line with “# ” for a heading, “- ” for a list item. "
    "Put **two stars** around words to make them bold. Quill adds “Yours sincerely,” and your name "
    "unless the text already ends with a sign-off."
)
DEFAULT_SIGN_OFF = "Yours sincerely,"
# The closing lines letters in English end with; the last paragraph being one of them means
# the author signed off already.
_SIGN_OFF = re.compile(
    r"^(yours\s+(sincerely|faithfully|truly)|kind\s+regards|best\s+wishes|with\s+best\s+wishes|"
    r"warm\s+regards|regards|many\s+thanks|with\s+thanks)[,.!]?$",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True, slots=True)
class Span:
    """A run of text, bold or not (``**bold**``)."""

    text: str
    bold: bool = False


def spans(text: str) -> list[Span]:
    """``a **b** c`` as [Span("a "), Span("b", bold=True), Span(" c")]; an unpaired ``**`` stays as typed."""
    result: list[Span] = []
    position = 0
    for match in _BOLD.finditer(text):
        if match.start() > position:
            result.append(Span(text[position : match.start()]))
        result.append(Span(match.group(1), bold=True))
        position = match.end()
    if position < len(text):
        result.append(Span(text[position:]))
    return result


def ends_with_sign_off(body: str) -> bool:
    """Whether the last line of the text is a closing such as "Yours sincerely," or "Kind regards"."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return bool(lines) and bool(_SIGN_OFF.match(lines[-1].replace("*", "")))


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BulletList:
    items: tuple[str, ...]


Block = Heading | Paragraph | BulletList


def parse_body(body: str) -> list[Block]:
    """The body as blocks, in order; a list or paragraph ends where the other kind starts."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    bullets: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Paragraph(tuple(paragraph)))
            paragraph.clear()
        if bullets:
            blocks.append(BulletList(tuple(bullets)))
            bullets.clear()

    for raw in body.splitlines():
        line = raw.rstrip()
        if not line.strip():
            flush()
        elif line.startswith("# "):
            flush()
            blocks.append(Heading(line[2:].strip()))
        elif line.lstrip().startswith("- "):
            if paragraph:
                flush()
            bullets.append(line.lstrip()[2:].strip())
        else:
            if bullets:
                flush()
            paragraph.append(line)
    flush()
    return blocks
