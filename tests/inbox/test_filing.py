"""Filing from the inbox: bytes and hash kept, splits with provenance, rejections, the portal pages."""

from __future__ import annotations

import hashlib
from datetime import date

import pikepdf
import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from apps.inbox.errors import ItemNotOpen, SplitInvalid
from apps.inbox.models import FiledDocument, InboxItem, ItemState
from apps.inbox.services.filing import Filing, inbox_file, inbox_reject, inbox_split
from apps.inbox.services.preparation import inbox_prepare
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_item(filesystem_storage, settings, organisation, patient):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation)

    def make(data: bytes | None = None, **kwargs) -> InboxItem:
        data = data or letter_pdf(
            ["Discharge summary", f"NHS number {patient.nhs_number}", f"DOB {patient.date_of_birth:%d/%m/%Y}"],
            ["Page two"],
            ["Page three"],
            ["Page four"],
        )
        item = receive(source, data, **kwargs).item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item

    return make


def test_filing_keeps_the_bytes_and_hash_as_received(ready_item, clinician, patient):
    item = ready_item()
    document = inbox_file(
        actor=clinician, item=item,
        filing=Filing(patient=patient, category="letter", title="Discharge", document_date=date(2026, 11, 30)),
    )  # fmt: skip
    assert document.sha256 == item.sha256 and storage.read_bytes(document.storage_key) == storage.read_bytes(
        item.storage_key
    )
    item.refresh_from_db()
    assert item.state == ItemState.FILED and item.closed_by == clinician
    provenance = FiledDocument.objects.get(document=document)
    assert provenance.item == item and provenance.first_page is None
    event = AuditEvent.objects.get(action="inbox.item_filed")
    assert str(event.patient_id) == str(patient.pk) and event.details["document_id"] == str(document.pk)
    with pytest.raises(ItemNotOpen):
        inbox_file(actor=clinician, item=item, filing=Filing(patient=patient, category="letter"))
    assert Document.objects.count() == 1


def test_split_files_each_range_with_its_provenance(ready_item, clinician, patient):
    item = ready_item()
    assert item.page_count == 4
    documents = inbox_split(
        actor=clinician,
        item=item,
        filings=[
            Filing(patient=patient, category="letter", title="Letter", first_page=1, last_page=2),
            Filing(patient=patient, category="lab", title="Results", first_page=3, last_page=4),
        ],
    )
    assert [d.title for d in documents] == ["Letter", "Results"]
    for document, expected in zip(documents, [(1, 2), (3, 4)], strict=True):
        provenance = FiledDocument.objects.get(document=document)
        assert (provenance.item_id, provenance.first_page, provenance.last_page) == (item.pk, *expected)
        with storage.open_reader(document.storage_key) as reader, pikepdf.open(reader) as pdf:
            assert len(pdf.pages) == 2
        assert document.sha256 == hashlib.sha256(storage.read_bytes(document.storage_key)).hexdigest()
    item.refresh_from_db()
    assert item.state == ItemState.FILED
    assert storage.stored_sha256(item.storage_key) == item.sha256  # the original is untouched


@pytest.mark.parametrize(
    "ranges",
    [[(1, 2)], [(1, 3), (3, 4)], [(0, 1), (2, 4)], [(1, 2), (3, 9)], [(2, 1), (3, 4)]],
    ids=["one-part", "overlap", "page-zero", "past-end", "backwards"],
)
def test_unusable_split_is_refused_with_nothing_filed(ready_item, clinician, patient, ranges):
    item = ready_item()
    filings = [Filing(patient=patient, category="letter", first_page=a, last_page=b) for a, b in ranges]
    with pytest.raises(SplitInvalid):
        inbox_split(actor=clinician, item=item, filings=filings)
    assert Document.objects.count() == 0 and InboxItem.objects.get(pk=item.pk).state == ItemState.READY


def test_reject_needs_a_reason_and_is_audited(ready_item, clinician):
    item = ready_item()
    with pytest.raises(Exception, match="Say why"):
        inbox_reject(actor=clinician, item=item, reason="  ")
    inbox_reject(actor=clinician, item=item, reason="Not our patient")
    item.refresh_from_db()
    assert item.state == ItemState.REJECTED and item.closed_reason == "Not our patient"
    assert AuditEvent.objects.filter(action="inbox.item_rejected").count() == 1


# --- portal ---------------------------------------------------------------------------------------


def test_inbox_list_shows_waiting_items_newest_first_with_suggestions(ready_item, clinician, patient):
    older = ready_item(letter_pdf(["Older letter"]))
    newer = ready_item()
    client = factories.signed_in_client(clinician)
    response = client.get("/inbox/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(str(newer.pk)) < body.index(str(older.pk))
    assert f"{patient.given_name} {patient.family_name}" in body and "NHS number 943 476 5919 on page 1" in body
    assert AuditEvent.objects.filter(action="inbox.listed").exists()
    filtered = client.get("/inbox/", {"state": "filed"})
    assert str(newer.pk) not in filtered.content.decode()


def test_item_page_prefills_the_filing_form_and_files_to_the_suggested_patient(ready_item, clinician, patient):
    item = ready_item()
    client = factories.signed_in_client(clinician)
    page = client.get(f"/inbox/{item.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f'value="{patient.pk}"' in body and "checked" in body and 'value="Discharge summary"' in body
    response = client.post(
        f"/inbox/{item.pk}/", {"patient": str(patient.pk), "category": "letter", "title": "Discharge summary"}
    )
    assert response.status_code == 302
    assert Document.objects.get().patient == patient


def test_portal_split_by_page_ranges(ready_item, clinician, patient):
    item = ready_item()
    client = factories.signed_in_client(clinician)
    response = client.post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", "title": "Scan", "page_ranges": "1-2, 3-4"},
    )
    assert response.status_code == 302
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Scan (pages 1–2)", "Scan (pages 3–4)"]


def test_bad_page_ranges_are_explained(ready_item, clinician, patient):
    item = ready_item()
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/", {"patient": str(patient.pk), "category": "letter", "page_ranges": "one to two"}
    )
    assert response.status_code == 400 and "is not a page range" in response.content.decode()
    assert Document.objects.count() == 0


def test_bulk_reject(ready_item, clinician):
    first, second = ready_item(letter_pdf(["A"])), ready_item(letter_pdf(["B"]))
    client = factories.signed_in_client(clinician)
    client.post("/inbox/bulk/", {"items": [str(first.pk), str(second.pk)], "action": "reject", "reason": "Spam"})
    assert set(InboxItem.objects.values_list("state", flat=True)) == {ItemState.REJECTED}


def test_another_organisations_item_is_404_and_billing_is_403(ready_item, other_clinician, billing_user):
    item = ready_item()
    assert factories.signed_in_client(other_clinician).get(f"/inbox/{item.pk}/").status_code == 404
    assert factories.signed_in_client(other_clinician).get(f"/inbox/{item.pk}/content").status_code == 404
    assert factories.signed_in_client(billing_user).get("/inbox/").status_code == 403
    assert AuditEvent.objects.filter(action="access.denied").exists()


def test_content_is_served_for_a_ready_item_and_never_for_one_waiting_for_its_scan(ready_item, clinician, settings):
    item = ready_item()
    client = factories.signed_in_client(clinician)
    response = client.get(f"/inbox/{item.pk}/content")
    assert response.status_code == 200 and b"".join(response.streaming_content) == storage.read_bytes(item.storage_key)
    assert response["X-Content-Type-Options"] == "nosniff"
    InboxItem.objects.filter(pk=item.pk).update(state=ItemState.SCANNING)
    assert client.get(f"/inbox/{item.pk}/content").status_code == 404
