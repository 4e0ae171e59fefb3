"""Inbox test material: letters with text generated in code, sources, and a receive shortcut."""

from __future__ import annotations

import io
import itertools

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from apps.inbox.models import IntakeSource, SourceKind
from apps.inbox.services.intake import Received, inbox_receive


def letter_pdf(*pages: list[str]) -> bytes:
    """A PDF with a text layer: one list of lines per page."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4, pageCompression=1, invariant=1)
    for lines in pages or (["Clinic letter"],):
        document.setFont("Helvetica", 12)
        y = 780
        for line in lines:
            document.drawString(72, y, line)
            y -= 18
        document.showPage()
    document.save()
    return buffer.getvalue()


_numbers = itertools.count(1)


def make_source(organisation, *, kind: str = SourceKind.API, name: str = "", **fields) -> IntakeSource:
    name = name or f"{kind} source {next(_numbers)}"
    return IntakeSource.objects.create(organisation=organisation, kind=kind, name=name, **fields)


def receive(
    source: IntakeSource, data: bytes, *, filename: str = "letter.pdf", identity: str = "", **kwargs
) -> Received:
    return inbox_receive(
        source=source,
        filename=filename,
        chunks=[data],
        source_identity=identity or f"test:{filename}:{len(data)}:{hash(data)}",
        **kwargs,
    )
