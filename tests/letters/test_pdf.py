import io
from dataclasses import replace
from datetime import date

import pypdf
import pytest

from apps.letters.pdf import LetterPdf, render_letter_pdf


@pytest.fixture
def letter():
    return LetterPdf(
        organisation_name="Riverside Clinic",
        organisation_address=("1 River Road", "London", "SE1 1AA"),
        patient_name="Zoë Okafor",
        nhs_number="9434765919",
        mrn="RC-00042",
        date_of_birth=date(1980, 1, 2),
        letter_date=date(2024, 5, 1),
        recipient_name="Dr J Smith",
        recipient_role="General Practitioner",
        recipient_address=("The Surgery", "2 High Street"),
        subject="Knee pain follow-up",
        body="# Assessment\nThe knee is improving.\n\n- Continue physiotherapy\n- Review in six weeks\n\nKind regards.",
        author_name="Dr A Patel",
        author_role="Consultant Orthopaedic Surgeon",
    )


def _read(pdf: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_opens_and_carries_the_letter(letter):
    pdf = render_letter_pdf(letter)
    reader, text = _read(pdf)
    assert pdf.startswith(b"%PDF-")
    assert len(reader.pages) == 1
    for expected in (
        "Riverside Clinic",
        "Zoë Okafor",
        "943 476 5919",
        "RC-00042",
        "02 January 1980",
        "01 May 2024",
        "Dr J Smith",
        "Knee pain follow-up",
        "Assessment",
        "The knee is improving.",
        "Continue physiotherapy",
        "Review in six weeks",
        "Dr A Patel",
        "Consultant Orthopaedic Surgeon",
        "Status: final",
        "Page 1 of 1",
    ):
        assert expected in text


def test_pdf_metadata(letter):
    reader, _ = _read(render_letter_pdf(letter))
    assert reader.metadata.title == "Knee pain follow-up"
    assert reader.metadata.author == "Dr A Patel"


def test_markup_characters_appear_literally(letter):
    risky = replace(letter, subject="A & B <i>x</i>", body="Take <b>two</b> tablets & rest.\n<br/> is text too.")
    _, text = _read(render_letter_pdf(risky))
    assert "A & B <i>x</i>" in text
    assert "Take <b>two</b> tablets & rest." in text
    assert "<br/> is text too." in text


def test_long_letter_numbers_every_page(letter):
    long_letter = replace(letter, body="\n\n".join(f"Paragraph {n}. " + "word " * 80 for n in range(60)))
    reader, text = _read(render_letter_pdf(long_letter))
    total = len(reader.pages)
    assert total > 2
    for number in range(1, total + 1):
        assert f"Page {number} of {total}" in reader.pages[number - 1].extract_text()
    assert "Paragraph 59." in text


def test_amends_note_is_printed(letter):
    _, text = _read(render_letter_pdf(replace(letter, amends_note="This letter replaces the letter of 28 April 2024.")))
    assert "This letter replaces the letter of 28 April 2024." in text


def _text_by_font(pdf: bytes) -> list[tuple[str, str]]:
    """(font, text) of each run of text on the first page, as pypdf reads them."""
    runs: list[tuple[str, str]] = []

    def visit(text, _cm, _tm, font, _size):
        if text.strip():
            runs.append((str(font.get("/BaseFont", "")) if font else "", text.strip()))

    pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return runs


def test_double_asterisks_print_in_the_bold_face_and_the_rest_in_the_regular_one(letter):
    pdf = render_letter_pdf(replace(letter, body="Cast off at **six weeks**, then physiotherapy."))

    runs = [(font.split("+")[-1], text) for font, text in _text_by_font(pdf)]

    assert ("DejaVuSans-Bold", "six weeks") in runs
    assert ("DejaVuSans", "Cast off at") in runs and ("DejaVuSans", ", then physiotherapy.") in runs
