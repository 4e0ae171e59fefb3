"""The letter body's light formatting as HTML, for the portal preview.

Same rules as the PDF (`pdf._body`): blank lines separate paragraphs, a line
starting `# ` is a heading, lines starting `- ` form a bulleted list, other
line breaks are kept. Everything the author typed is escaped; the only markup
is what this function writes.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def body_html(body: str) -> SafeString:
    blocks: list[str] = []
    paragraph: list[str] = []
    bullets: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(escape(line) for line in paragraph) + "</p>")
            paragraph.clear()
        if bullets:
            blocks.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in bullets) + "</ul>")
            bullets.clear()

    for raw in body.splitlines():
        line = raw.rstrip()
        if not line.strip():
            flush()
        elif line.startswith("# "):
            flush()
            blocks.append(f"<h3>{escape(line[2:].strip())}</h3>")
        elif line.lstrip().startswith("- "):
            if paragraph:
                flush()
            bullets.append(line.lstrip()[2:].strip())
        else:
            if bullets:
                flush()
            paragraph.append(line)
    flush()
    return mark_safe("\n".join(blocks))  # noqa: S308 - every piece of user text above went through escape()
