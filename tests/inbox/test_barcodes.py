"""Barcode sheets in a scan (zxing-cpp): separators split it and are dropped; a cover sheet's NHS number
suggests the patient for the pages after it. The sheets are made here with zxing-cpp itself."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from apps.documents.models import Document
from apps.inbox.models import FiledDocument, InboxItem
from apps.inbox.services.filing import Filing, inbox_split
from apps.inbox.services.preparation import inbox_prepare
from tests import factories
from tests.inbox.helpers import make_source, receive

pytestmark = pytest.mark.django_db


def _page(*, barcode: tuple[str, zxingcpp.BarcodeFormat] | None = None, words: str = "") -> Image.Image:
    page = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    if barcode is not None:
        text, kind = barcode
        symbol = zxingcpp.create_barcode(text, kind).to_image(scale=6 if kind != zxingcpp.BarcodeFormat.Code128 else 3)
        page.paste(Image.fromarray(np.asarray(symbol)), (150, 150))
    if words:
        ImageDraw.Draw(page).text((150, 900), words, fill=0)
    return page


def _scan(pages: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=150.0)
    return buffer.getvalue()


SEPARATOR = ("QUILL-SEPARATOR", zxingcpp.BarcodeFormat.Code128)


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation, nhs_number="9434765919", given_name="Ellis", family_name="Marwood", date_of_birth=date(1970, 3, 1)
    )


@pytest.fixture
def prepared(filesystem_storage, settings, organisation):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation)

    def run(pages: list[Image.Image]) -> InboxItem:
        item = receive(source, _scan(pages), filename="batch.pdf").item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item

    return run


def test_separator_sheets_split_the_scan_and_are_dropped(prepared, clinician, patient):
    item = prepared([_page(words="one"), _page(words="two"), _page(barcode=SEPARATOR), _page(words="three")])
    assert [(p["first_page"], p["last_page"], p["patient_id"]) for p in item.suggestions["parts"]] == [
        (1, 2, ""),
        (4, 4, ""),
    ]
    body = factories.signed_in_client(clinician).get(f"/inbox/{item.pk}/").content.decode()
    # the split is prefilled, one part a row; the person confirms it
    assert 'name="part-0-pages" value="1-2"' in body and 'name="part-1-pages" value="4-4"' in body
    assert Document.objects.count() == 0
    parts = [Filing(patient=patient, category="letter", first_page=p["first_page"], last_page=p["last_page"])
             for p in item.suggestions["parts"]]  # fmt: skip
    documents = inbox_split(actor=clinician, item=item, filings=parts)
    assert len(documents) == 2
    assert sorted(FiledDocument.objects.values_list("first_page", "last_page")) == [(1, 2), (4, 4)]


@pytest.mark.parametrize("kind", [zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode])
def test_a_cover_sheet_suggests_its_patient_for_the_pages_after_it_and_files_nothing(prepared, ellis, kind):
    item = prepared([_page(barcode=("NHS:9434765919", kind)), _page(words="letter"), _page(words="results")])
    [part] = item.suggestions["parts"]
    assert (part["first_page"], part["last_page"], part["patient_id"]) == (2, 3, str(ellis.pk))
    assert "cover sheet, page 1" in part["evidence"]
    [best] = item.suggestions["patients"]
    assert best["patient_id"] == str(ellis.pk)
    assert best["evidence"] == ["NHS number 943 476 5919 on a barcode on page 1"]
    assert best["auto_file"] is False  # no date of birth: never filed without a person
    assert Document.objects.count() == 0


def test_an_unknown_or_invalid_nhs_number_on_a_cover_suggests_no_one(prepared, ellis):
    item = prepared([_page(barcode=("NHS:9434765918", zxingcpp.BarcodeFormat.QRCode)), _page(words="letter")])
    assert item.suggestions["parts"] == [] and item.suggestions["patients"] == []


def test_a_scan_without_sheets_has_no_parts(prepared):
    item = prepared([_page(words="one"), _page(words="two")])
    assert item.suggestions["parts"] == []
