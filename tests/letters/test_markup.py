import pytest

from apps.letters.markup import BulletList, Heading, Paragraph, parse_body


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
