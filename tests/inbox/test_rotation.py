"""Rotating pages when filing: the filed copy is turned, the item stays exactly as received."""

from __future__ import annotations

import io

import pikepdf
import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from apps.inbox.errors import SplitInvalid
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.filing import Filing, inbox_file, inbox_split
from apps.inbox.services.preparation import inbox_prepare
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(filesystem_storage, settings, organisation) -> InboxItem:
    settings.QUILL_SCANNER = "none"
    received = receive(make_source(organisation), letter_pdf(["one"], ["two"], ["three"])).item
    inbox_prepare(item_id=received.pk)
    received.refresh_from_db()
    return received


def _rotations(key: str) -> list[int]:
    with pikepdf.open(io.BytesIO(storage.read_bytes(key))) as pdf:
        return [int(page.obj.get("/Rotate", 0)) for page in pdf.pages]


def test_filing_with_rotations_turns_those_pages_of_the_filed_copy(item, clinician, patient):
    original = storage.read_bytes(item.storage_key)
    document = inbox_file(
        actor=clinician, item=item, filing=Filing(patient=patient, category="letter", rotations={2: 90, 3: 180})
    )
    assert _rotations(document.storage_key) == [0, 90, 180]
    assert storage.read_bytes(item.storage_key) == original  # the item as received
    assert AuditEvent.objects.get(action="inbox.item_filed").details["rotated"] == {"2": 90, "3": 180}


def test_each_split_part_keeps_its_own_pages_rotations(item, clinician, patient):
    rotations = {3: 270}
    documents = inbox_split(actor=clinician, item=item, filings=[
        Filing(patient=patient, category="letter", first_page=1, last_page=2, rotations=rotations),
        Filing(patient=patient, category="letter", first_page=3, last_page=3, rotations=rotations),
    ])  # fmt: skip
    assert [_rotations(d.storage_key) for d in documents] == [[0, 0], [270]]


@pytest.mark.parametrize("rotations", [{4: 90}, {1: 45}, {1: 360}])
def test_a_rotation_outside_the_pages_or_not_a_quarter_turn_files_nothing(item, clinician, patient, rotations):
    with pytest.raises(SplitInvalid):
        inbox_file(actor=clinician, item=item, filing=Filing(patient=patient, category="letter", rotations=rotations))
    item.refresh_from_db()
    assert item.state == ItemState.READY and Document.objects.count() == 0


def test_portal_rotation_field(item, clinician, patient):
    client = factories.signed_in_client(clinician)
    base = {"patient": "other", "nhs_number": patient.nhs_number, "category": "letter"}  # not suggested: by number
    bad = client.post(f"/inbox/{item.pk}/", {**base, "rotate": "2 by 90"})
    assert bad.status_code == 400 and "is not a rotation" in bad.content.decode()
    assert client.post(f"/inbox/{item.pk}/", {**base, "rotate": "1:90"}).status_code == 302
    assert _rotations(Document.objects.get().storage_key) == [90, 0, 0]
