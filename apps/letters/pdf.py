"""Render a finalised clinical letter to PDF (A4, reportlab platypus).

User text is escaped before it reaches reportlab's paragraph mini-markup, which
would otherwise interpret ``<`` and ``&``. The body is parsed by `markup.parse_body`,
the same parser the portal preview uses.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from apps.letters import markup

MARGIN = 20 * mm
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class LetterPdf:
    """Everything printed on a letter; filled by the letters service."""

    organisation_name: str
    organisation_address: tuple[str, ...]
    patient_name: str
    nhs_number: str
    mrn: str
    date_of_birth: date
    letter_date: date
    recipient_name: str
    recipient_role: str
    recipient_address: tuple[str, ...]
    subject: str
    body: str
    author_name: str
    author_role: str
    status: str = "final"
    amends_note: str | None = None


def render_letter_pdf(letter: LetterPdf) -> bytes:
    """The letter as PDF bytes, with "Page n of m" footers and title/author metadata."""
    regular, bold = _fonts()
    styles = _styles(regular, bold)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm,
        title=letter.subject,
        author=letter.author_name,
        subject=f"Clinical letter for {letter.patient_name}",
        creator="Quill",
    )
    story: list[Flowable] = []
    story += _letterhead(letter, styles)
    story += _patient_block(letter, styles, regular, bold)
    story += _recipient_block(letter, styles)
    story.append(Paragraph(_text(letter.subject), styles["subject"]))
    if letter.amends_note:
        story.append(Paragraph(_text(letter.amends_note), styles["note"]))
    story += _body(letter.body, styles)
    story.append(_signature(letter, styles))

    def canvas_maker(*args: object, **kwargs: object) -> _NumberedCanvas:
        return _NumberedCanvas(*args, font=regular, **kwargs)

    document.build(story, canvasmaker=canvas_maker)
    return buffer.getvalue()


def _text(value: str) -> str:
    """Escape for reportlab markup; keep the author's line breaks."""
    return "<br/>".join(escape(line) for line in value.splitlines())


def _fonts() -> tuple[str, str]:
    # DejaVu covers the accents and scripts names arrive in; Helvetica (Latin-1
    # only) is the fallback where the fonts are not installed.
    try:
        if "QuillSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("QuillSans", str(_DEJAVU / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("QuillSans-Bold", str(_DEJAVU / "DejaVuSans-Bold.ttf")))
            # Without the family, a paragraph's <b> (the text's **bold**) finds no bold face and
            # prints in the regular one.
            pdfmetrics.registerFontFamily(
                "QuillSans", normal="QuillSans", bold="QuillSans-Bold", italic="QuillSans", boldItalic="QuillSans-Bold"
            )
        return "QuillSans", "QuillSans-Bold"
    except Exception:  # any font problem means "use the built-in font"
        return "Helvetica", "Helvetica-Bold"


def _styles(regular: str, bold: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=regular, fontSize=10.5, leading=14)
    return {
        "base": base,
        "org": ParagraphStyle("org", parent=base, fontName=bold, fontSize=15, leading=19),
        "small": ParagraphStyle("small", parent=base, fontSize=9, leading=12, textColor=colors.HexColor("#333333")),
        "subject": ParagraphStyle("subject", parent=base, fontName=bold, fontSize=12, leading=16, spaceBefore=10),
        "heading": ParagraphStyle("heading", parent=base, fontName=bold, fontSize=11, spaceBefore=8, spaceAfter=2),
        "para": ParagraphStyle("para", parent=base, spaceBefore=6),
        "note": ParagraphStyle("note", parent=base, fontSize=9.5, textColor=colors.HexColor("#7a1f1f"), spaceBefore=4),
        "right": ParagraphStyle("right", parent=base, alignment=2),
    }


def _letterhead(letter: LetterPdf, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [
        Paragraph(_text(letter.organisation_name), styles["org"]),
        Paragraph("<br/>".join(escape(line) for line in letter.organisation_address), styles["small"]),
        Spacer(1, 6 * mm),
    ]


def _patient_block(letter: LetterPdf, styles: dict[str, ParagraphStyle], regular: str, bold: str) -> list[Flowable]:
    rows = [
        ("Patient", letter.patient_name),
        ("NHS number", _nhs_number(letter.nhs_number)),
        ("MRN", letter.mrn),
        ("Date of birth", letter.date_of_birth.strftime("%d %B %Y")),
    ]
    cells = [[Paragraph(escape(k), styles["small"]), Paragraph(escape(v), styles["base"])] for k, v in rows]
    table = Table(cells, colWidths=[32 * mm, 90 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#888888")),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f0f0f0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (0, 0), (-1, -1), regular),
            ]
        )
    )
    date_line = Paragraph(escape(letter.letter_date.strftime("%d %B %Y")), styles["right"])
    return [table, Spacer(1, 4 * mm), date_line, Spacer(1, 4 * mm)]


def _recipient_block(letter: LetterPdf, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    lines = [letter.recipient_name, letter.recipient_role, *letter.recipient_address]
    text = "<br/>".join(escape(line) for line in lines if line.strip())
    return [Paragraph(text, styles["base"])] if text else []


def _body(body: str, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    return [_block_flowable(block, styles) for block in markup.parse_body(body)]


def _inline(text: str) -> str:
    """Reportlab markup for one line: escaped text, ``**bold**`` as <b>."""
    return "".join(f"<b>{escape(span.text)}</b>" if span.bold else escape(span.text) for span in markup.spans(text))


def _block_flowable(block: markup.Block, styles: dict[str, ParagraphStyle]) -> Flowable:
    match block:
        case markup.Heading(text=text):
            return Paragraph(_inline(text), styles["heading"])
        case markup.Paragraph(lines=lines):
            return Paragraph("<br/>".join(_inline(line) for line in lines), styles["para"])
        case markup.BulletList(items=items):
            entries = [ListItem(Paragraph(_inline(item), styles["base"]), leftIndent=12) for item in items]
            return ListFlowable(entries, bulletType="bullet", start="•", leftIndent=12, spaceBefore=4)


def _signature(letter: LetterPdf, styles: dict[str, ParagraphStyle]) -> Flowable:
    """The signatory's block; "Yours sincerely," first unless the text signed off already."""
    lines: list[Flowable] = [Spacer(1, 10 * mm)]
    if not markup.ends_with_sign_off(letter.body):
        lines.append(Paragraph(escape(markup.DEFAULT_SIGN_OFF), styles["base"]))
    lines += [
        Spacer(1, 8 * mm),
        Paragraph(f"<b>{escape(letter.author_name)}</b>", styles["base"]),
        Paragraph(escape(letter.author_role), styles["base"]),
        Paragraph(f"Status: {escape(letter.status)}", styles["small"]),
    ]
    return KeepTogether(lines)


def _nhs_number(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else value


class _NumberedCanvas(Canvas):
    """Defers page output until the page count is known, for "Page n of m"."""

    def __init__(self, *args: object, font: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._font = font
        self._saved_pages: list[dict[str, object]] = []

    def showPage(self) -> None:  # reportlab API name
        self._saved_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved_pages)
        for state in self._saved_pages:
            self.__dict__.update(state)
            self.setFont(self._font, 8.5)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()
