"""Filing from the inbox: bytes and hash kept, splits with provenance, rejections, the portal pages."""

from __future__ import annotations

import hashlib
from datetime import date

import pikepdf
import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from apps.inbox.errors import ItemNotOpen, PartRefused, SplitInvalid
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


def _parts(*rows: dict) -> dict:
    """The split rows of the filing form, as the page posts them."""
    data = {"part-TOTAL_FORMS": str(len(rows)), "part-INITIAL_FORMS": "0"}
    for index, row in enumerate(rows):
        data.update({f"part-{index}-{name}": value for name, value in row.items()})
    return data


def test_portal_split_by_page_ranges(ready_item, clinician, patient):
    item = ready_item()
    client = factories.signed_in_client(clinician)
    response = client.post(
        f"/inbox/{item.pk}/",
        {
            "patient": str(patient.pk),
            "category": "letter",
            "title": "Scan",
            **_parts({"pages": "1-2"}, {"pages": "3-4"}),
        },
    )
    assert response.status_code == 302
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Scan (pages 1–2)", "Scan (pages 3–4)"]


def test_bad_page_ranges_are_explained(ready_item, clinician, patient):
    item = ready_item()
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", **_parts({"pages": "one to two"}, {"pages": "3"})},
    )
    assert response.status_code == 400 and "is not a page range" in response.content.decode()
    assert Document.objects.count() == 0


def test_split_parts_go_to_different_patients_in_one_submission(ready_item, clinician, patient, organisation):
    # given a scan whose pages 1-2 are a letter about the suggested patient and 3-4 results of another
    other = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[3], family_name="Other")
    item = ready_item()
    # when the parts are filed, the second to the other patient with its own category, title and date
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", "title": "Discharge summary", "document_date": "2026-11-30",
         **_parts({"pages": "1-2"}, {"pages": "3-4", "patient": "other", "nhs_number": "943 476 5862",
                                     "category": "lab", "title": "Full blood count", "document_date": "2026-11-02"})},
    )  # fmt: skip
    # then each part is its patient's document, with the details given for it (or the whole's)
    assert response.status_code == 302, response.content.decode()
    rows = sorted(Document.objects.values_list("patient_id", "category", "title", "document_date"), key=str)
    assert sorted(rows, key=lambda row: row[2]) == [
        (patient.pk, "letter", "Discharge summary (pages 1–2)", date(2026, 11, 30)),
        (other.pk, "lab", "Full blood count", date(2026, 11, 2)),
    ]
    events = AuditEvent.objects.filter(action="inbox.item_filed")
    assert {str(event.patient_id) for event in events} == {str(patient.pk), str(other.pk)}
    item.refresh_from_db()
    assert item.state == ItemState.FILED


def test_every_part_naming_its_patient_needs_no_patient_for_the_whole(ready_item, clinician, patient, organisation):
    other = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[3])
    item = ready_item()
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"category": "letter", **_parts({"pages": "1-2", "patient": str(patient.pk)},
                                        {"pages": "3-4", "patient": "other", "nhs_number": other.nhs_number})},
    )  # fmt: skip
    assert response.status_code == 302
    assert sorted(Document.objects.values_list("patient_id", flat=True), key=str) == sorted(
        [patient.pk, other.pk], key=str
    )


def _part_errors(html: str, part: int) -> str:
    """The HTML of one part's fieldset."""
    start = html.index(f"<legend>Part {part}</legend>")
    return html[start : html.index("</fieldset>", start)]


def test_a_bad_part_refuses_the_whole_split_with_the_error_beside_that_part(
    ready_item, clinician, patient, filesystem_storage
):
    item = ready_item()
    before = sorted(str(path) for path in filesystem_storage.rglob("*") if path.is_file())
    # when the second part names an NHS number no patient of ours has
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter",
         **_parts({"pages": "1-2"}, {"pages": "3-4", "patient": "other", "nhs_number": "943 476 5897"})},
    )  # fmt: skip
    # then nothing is filed, the item waits, and the refusal is shown in part 2 only
    assert response.status_code == 400
    html = response.content.decode()
    assert "No patient of yours has that NHS number" in _part_errors(html, 2)
    assert "field-error" not in _part_errors(html, 1)
    assert Document.objects.count() == 0 and FiledDocument.objects.count() == 0
    item.refresh_from_db()
    assert item.state == ItemState.READY
    assert sorted(str(path) for path in filesystem_storage.rglob("*") if path.is_file()) == before


def test_overlapping_parts_are_refused_beside_the_second(ready_item, clinician, patient):
    item = ready_item()
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", **_parts({"pages": "1-3"}, {"pages": "3-4"})},
    )
    assert response.status_code == 400
    assert "Two parts share a page" in _part_errors(response.content.decode(), 2)
    assert Document.objects.count() == 0


def test_adding_a_part_shows_one_more_row_and_files_nothing(ready_item, clinician, patient):
    item = ready_item()
    response = factories.signed_in_client(clinician).post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", "more_parts": "1", **_parts({"pages": "1"}, {"pages": "2"})},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<legend>Part 3</legend>" in html and 'name="part-0-pages" value="1"' in html
    assert Document.objects.count() == 0


def test_a_part_refused_by_the_upload_service_files_none_and_stores_nothing(
    ready_item, clinician, patient, organisation, filesystem_storage
):
    # given a split whose second part is to another patient in a category that does not exist
    other = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[3])
    item = ready_item()
    before = sorted(str(path) for path in filesystem_storage.rglob("*") if path.is_file())
    with pytest.raises(PartRefused) as refused:
        inbox_split(
            actor=clinician,
            item=item,
            filings=[
                Filing(patient=patient, category="letter", first_page=1, last_page=2),
                Filing(patient=other, category="no-such-category", first_page=3, last_page=4),
            ],
        )
    # then the refusal names the part, and nothing of either part is filed or stored
    assert refused.value.part == 1 and refused.value.data["cause"] == "invalid_category"
    assert Document.objects.count() == 0 and FiledDocument.objects.count() == 0
    assert sorted(str(path) for path in filesystem_storage.rglob("*") if path.is_file()) == before
    item.refresh_from_db()
    assert item.state == ItemState.READY


def test_a_review_refused_for_one_part_rolls_back_every_part(ready_item, clinician, patient, other_clinician):
    from apps.inbox.services.filing import ReviewRequest

    item = ready_item()
    review = ReviewRequest(priority="routine", due_date=date(2026, 12, 20), assignee=other_clinician)
    with pytest.raises(PartRefused) as refused:
        inbox_split(
            actor=clinician,
            item=item,
            filings=[
                Filing(patient=patient, category="letter", first_page=1, last_page=2),
                Filing(patient=patient, category="lab", first_page=3, last_page=4, review=review),
            ],
        )
    assert refused.value.part == 1
    assert Document.objects.count() == 0
    item.refresh_from_db()
    assert item.state == ItemState.READY


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
