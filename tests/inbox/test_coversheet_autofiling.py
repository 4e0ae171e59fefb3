"""Automatic filing of a scan divided by barcode cover sheets: every part to its cover sheet's patient, or
none of them; only with auto-filing on, and only when each part's own pages carry that patient's NHS number
and date of birth. Anything short of that leaves the item for a person, the parts prefilled as before."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import numpy as np
import pikepdf
import pytest
import zxingcpp
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from apps.inbox.models import FiledDocument, InboxItem, InboxSettings, IntakeSource, ItemState
from apps.inbox.services.preparation import inbox_prepare
from apps.reviews.models import Review
from tests import factories
from tests.inbox.helpers import make_source, receive

pytestmark = pytest.mark.django_db

ELLIS, ROWAN, NOBODY = "9434765919", "9434765870", "4010232137"


def _cover(nhs_number: str) -> tuple[str, str]:
    return ("cover", nhs_number)


def _scan(*pages: tuple[str, str] | list[str]) -> bytes:
    """A PDF: a cover sheet (a QR code of ``NHS:<number>``, no text layer) or a page of text lines."""
    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4, pageCompression=1, invariant=1)
    for page in pages:
        if isinstance(page, tuple):
            symbol = zxingcpp.create_barcode(f"NHS:{page[1]}", zxingcpp.BarcodeFormat.QRCode).to_image(scale=8)
            document.drawImage(ImageReader(Image.fromarray(np.asarray(symbol))), 72, 500, width=220, height=220)
        else:
            document.setFont("Helvetica", 12)
            y = 780
            for line in page:
                document.drawString(72, y, line)
                y -= 18
        document.showPage()
    document.save()
    return buffer.getvalue()


def _pages(document: Document) -> int:
    with storage.open_reader(document.storage_key) as reader, pikepdf.open(io.BytesIO(reader.read())) as pdf:
        return len(pdf.pages)


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation, nhs_number=ELLIS, given_name="Ellis", family_name="Marwood", date_of_birth=date(1970, 3, 1)
    )


@pytest.fixture
def rowan(organisation):
    return factories.make_patient(
        organisation, nhs_number=ROWAN, given_name="Rowan", family_name="Quist", date_of_birth=date(1982, 11, 4)
    )


@pytest.fixture
def reviewer(organisation):
    return factories.make_user(organisation, ["clinician"])


@pytest.fixture
def auto_on(organisation):
    return InboxSettings.objects.create(organisation=organisation, auto_file=True)


@pytest.fixture
def arrive(filesystem_storage, settings, organisation, reviewer):
    settings.QUILL_SCANNER = "none"
    settings.QUILL_OCR = "none"  # the letters have a text layer; the cover sheets need only their barcode
    source = make_source(organisation, default_reviewer=reviewer, default_category="letter")

    def run(data: bytes) -> tuple[InboxItem, str]:
        item = receive(source, data, filename="batch.pdf").item
        outcome = inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item, outcome

    return run


ELLIS_LETTER = ["Clinic letter", "NHS number 943 476 5919", "DOB 01/03/1970", "Seen 30/11/2026"]
ELLIS_RESULTS = ["Blood results", "Haemoglobin 131 g/L"]
ROWAN_LETTER = ["Discharge summary", "NHS No: 9434765870", "Born 04/11/1982"]


def test_a_scan_whose_every_part_qualifies_is_filed_part_by_part_automatically(auto_on, arrive, ellis, rowan, reviewer):
    data = _scan(_cover(ELLIS), ELLIS_LETTER, ELLIS_RESULTS, _cover(ROWAN), ROWAN_LETTER)
    item, outcome = arrive(data)
    assert outcome == "prepared-and-filed"
    assert item.state == ItemState.FILED and item.closed_by == reviewer
    provenance = {
        (row.first_page, row.last_page): row
        for row in FiledDocument.objects.filter(item=item).select_related("document")
    }
    assert sorted(provenance) == [(2, 3), (5, 5)]
    first, second = provenance[(2, 3)].document, provenance[(5, 5)].document
    assert (first.patient, second.patient) == (ellis, rowan)
    assert first.title == "Clinic letter" and second.title == "Discharge summary"
    assert (_pages(first), _pages(second)) == (2, 1)  # the cover sheets are not filed
    # the original is kept as received; the parts are new bytes of their own
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    with storage.open_reader(item.storage_key) as reader:
        assert reader.read() == data
    assert item.sha256 not in {first.sha256, second.sha256}
    events = AuditEvent.objects.filter(action="inbox.item_filed").order_by("details__pages")
    assert [event.details["pages"] for event in events] == [[2, 3], [5, 5]]
    assert all(event.details["automatic"] is True for event in events)
    assert "cover sheet, page 1" in events[0].details["evidence"]
    assert "date of birth 01/03/1970 in the text of pages 2–3" in events[0].details["evidence"]
    assert "cover sheet, page 4" in events[1].details["evidence"]
    reviews = Review.objects.filter(document__in=[first, second])
    assert reviews.count() == 2 and {review.assignee for review in reviews} == {reviewer}
    assert all("automatically" in review.note for review in reviews)


def test_nothing_is_filed_when_the_organisation_has_not_enabled_auto_filing(arrive, ellis, rowan):
    item, outcome = arrive(_scan(_cover(ELLIS), ELLIS_LETTER, _cover(ROWAN), ROWAN_LETTER))
    assert outcome == "prepared" and item.state == ItemState.READY
    assert [part["patient_id"] for part in item.suggestions["parts"]] == [str(ellis.pk), str(rowan.pk)]
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    "second",
    [
        (_cover(NOBODY), ["Letter", "NHS number 401 023 2137", "DOB 04/11/1982"]),  # no such patient here
        (_cover(ROWAN), ["Discharge summary", "NHS No: 9434765870"]),  # no date of birth in the part
        (_cover(ROWAN), ["Discharge summary", "DOB 04/11/1982"]),  # no NHS number in the part
        (_cover(ROWAN), ["Discharge summary", "NHS No: 9434765870", "Born 05/11/1982"]),  # another birth date
        (_cover(ROWAN), [*ROWAN_LETTER, "Copy: NHS 943 476 5919"]),  # another patient's NHS number too
        (["Fax header", "NHS No: 9434765870", "Born 04/11/1982"],),  # a part without a cover sheet
    ],
)
def test_one_part_that_does_not_qualify_leaves_every_part_for_a_person(auto_on, arrive, ellis, rowan, second):
    pages = [_cover(ELLIS), ELLIS_LETTER, *second]
    if len(second) == 1:  # the pages before the first cover sheet make a part of their own
        pages = [*second, _cover(ELLIS), ELLIS_LETTER]
    item, outcome = arrive(_scan(*pages))
    assert outcome == "prepared" and item.state == ItemState.READY
    assert len(item.suggestions["parts"]) == 2
    assert Document.objects.count() == 0 and not FiledDocument.objects.exists()
    assert not AuditEvent.objects.filter(action="inbox.item_filed").exists()


def test_another_organisations_nhs_number_on_a_cover_sheet_is_never_filed_to(auto_on, arrive, other_organisation):
    factories.make_patient(other_organisation, nhs_number=ELLIS, date_of_birth=date(1970, 3, 1))
    item, outcome = arrive(_scan(_cover(ELLIS), ELLIS_LETTER))
    assert outcome == "prepared" and item.state == ItemState.READY
    [part] = item.suggestions["parts"]
    assert part["patient_id"] == ""
    assert Document.objects.count() == 0


def test_a_single_cover_sheet_part_is_filed_without_its_cover_sheet(auto_on, arrive, ellis):
    item, outcome = arrive(_scan(_cover(ELLIS), ELLIS_LETTER, ELLIS_RESULTS))
    assert outcome == "prepared-and-filed" and item.state == ItemState.FILED
    row = FiledDocument.objects.select_related("document").get(item=item)
    assert (row.first_page, row.last_page, row.document.patient) == (2, 3, ellis)
    assert _pages(row.document) == 2


def test_a_source_without_a_default_reviewer_leaves_cover_sheet_parts_for_a_person(
    auto_on, arrive, ellis, organisation
):
    IntakeSource.objects.filter(organisation=organisation).update(default_reviewer=None)
    item, outcome = arrive(_scan(_cover(ELLIS), ELLIS_LETTER))
    assert outcome == "prepared" and item.state == ItemState.READY and Document.objects.count() == 0
