import pytest

from apps.letters.markup import HELP_TEXT, BulletList, Heading, Paragraph, Span, ends_with_sign_off, parse_body, spans


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        ("", []),
        ("One.\nTwo.", [Paragraph(("One.", "Two."))]),
        ("One.\n\n\nTwo.", [Paragraph(("One.",)), Paragraph(("Two.",))]),
        ("# Plan \nRest.", [Heading("Plan"), Paragraph(("Rest.",))]),
        ("#Plan", [Paragraph(("#Plan",))]),
        ("  - a\n- b ", [BulletList(("a", "b"))]),
        ("Intro\n- a\nAfter", [Paragraph(("Intro",)), BulletList(("a",)), Paragraph(("After",))]),
        ("- a\n# H\n- b", [BulletList(("a",)), Heading("H"), BulletList(("b",))]),
        ("<b>&</b>", [Paragraph(("<b>&</b>",))]),
    ],
    ids=[
        "empty",
        "line-break",
        "paragraphs",
        "heading",
        "no-space-no-heading",
        "list",
        "list-between",
        "heading-splits-list",
        "raw-text",
    ],
)
def test_parse_body(body, blocks):
    assert parse_body(body) == blocks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", [Span("plain")]),
        ("a **b** c", [Span("a "), Span("b", bold=True), Span(" c")]),
        ("**all**", [Span("all", bold=True)]),
        ("2 ** 3", [Span("2 ** 3")]),
        ("**one** and **two**", [Span("one", bold=True), Span(" and "), Span("two", bold=True)]),
    ],
    ids=["plain", "middle", "whole", "unpaired", "two"],
)
def test_bold_spans(text, expected):
    assert spans(text) == expected


@pytest.mark.parametrize(
    ("body", "signed_off"),
    [
        ("Seen today.", False),
        ("Seen today.\n\nYours sincerely,", True),
        ("Seen today.\n\nKind regards\n\n", True),
        ("Seen today.\n\n**Yours faithfully,**", True),
        ("Yours sincerely, the clinic wrote", False),
    ],
    ids=["none", "sincerely", "regards-trailing-blank", "bold", "not-last-line-alone"],
)
def test_a_sign_off_is_recognised_on_the_last_line(body, signed_off):
    assert ends_with_sign_off(body) is signed_off


def test_the_help_text_promises_exactly_the_markup_both_renderers_know():
    assert "**two stars**" in HELP_TEXT and "“# ”" in HELP_TEXT and "“- ”" in HELP_TEXT
