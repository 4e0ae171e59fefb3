"""The letter body's light markup, parsed once for both the HTML preview and the PDF.

The rules the letter form's help text promises, and nothing more: blank lines separate
paragraphs (other line breaks are kept), a line starting ``# `` is a heading, lines
starting ``- `` form a bulleted list. There is no inline markup; the renderers escape
every piece of text for their own format.
"""

from __future__ import annotations

from dataclasses import dataclass


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
