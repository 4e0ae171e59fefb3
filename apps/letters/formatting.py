"""The letter body's light formatting as HTML, for the portal preview.

The body is parsed by `markup.parse_body`, the same parser the PDF uses. Everything
the author typed is escaped; the only markup is what this function writes.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.letters import markup


def body_html(body: str) -> SafeString:
    return mark_safe("\n".join(_block_html(block) for block in markup.parse_body(body)))  # noqa: S308 - escaped below


def _inline(text: str) -> str:
    return "".join(
        f"<strong>{escape(span.text)}</strong>" if span.bold else str(escape(span.text)) for span in markup.spans(text)
    )


def _block_html(block: markup.Block) -> str:
    match block:
        case markup.Heading(text=text):
            return f"<h3>{_inline(text)}</h3>"
        case markup.Paragraph(lines=lines):
            return "<p>" + "<br>".join(_inline(line) for line in lines) + "</p>"
        case markup.BulletList(items=items):
            return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>"
