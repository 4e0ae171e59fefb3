"""The inbox reads text through the shared extraction: text layers always, OCR for scans when it is on."""

from __future__ import annotations

from datetime import date

import pytest

from apps.inbox.models import InboxItem
from apps.inbox.services.preparation import inbox_prepare
from tests import factories
from tests.documents.text_samples import scan_png, scanned_pdf
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation, nhs_number="9434765919", given_name="Ellis", family_name="Marwood", date_of_birth=date(1970, 3, 1)
    )


@pytest.fixture
def prepare(filesystem_storage, settings, organisation):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation)

    def run(data: bytes, filename: str) -> InboxItem:
        item = receive(source, data, filename=filename).item
        assert inbox_prepare(item_id=item.pk) == "prepared"
        item.refresh_from_db()
        return item

    return run


def test_a_scanned_letter_is_ocred_and_its_nhs_number_suggests_the_patient(ocr, prepare, ellis):
    item = prepare(scan_png("Clinic letter\nNHS 943 476 5919\nDOB 01/03/1970"), "scan.png")
    assert "943 476 5919" in item.text
    [best] = item.suggestions["patients"]
    assert best["patient_id"] == str(ellis.pk) and best["basis"] == "nhs_number"
    assert best["evidence"][0] == "NHS number 943 476 5919 on page 1"


def test_with_ocr_off_a_scan_is_prepared_without_text_and_without_suggestions(prepare, ellis):
    item = prepare(scanned_pdf(["NHS 943 476 5919"]), "scan.pdf")
    assert item.text == "" and item.suggestions["patients"] == [] and item.page_count == 1


def test_a_pdf_longer_than_the_text_page_limit_still_gives_its_first_pages(settings, prepare, ellis):
    settings.QUILL_TEXT_MAX_PAGES = 2
    item = prepare(letter_pdf(["NHS number 943 476 5919", "DOB 01/03/1970"], ["two"], ["three"]), "long.pdf")
    assert item.page_count == 3 and item.text.startswith("NHS number 943 476 5919")
    assert item.suggestions["patients"][0]["patient_id"] == str(ellis.pk)
