"""Merging inbox items: one new item of the sources' pages in the order chosen, the sources kept and closed."""

from __future__ import annotations

import io
from datetime import date

import pikepdf
import pytest
from PIL import Image

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage
from apps.inbox.errors import ItemNotOpen, ItemNotReady, MergeInvalid
from apps.inbox.models import FiledDocument, InboxItem, ItemState
from apps.inbox.services.filing import Filing, inbox_file, inbox_reject
from apps.inbox.services.merging import inbox_merge
from apps.inbox.services.preparation import inbox_prepare
from apps.inbox.text import document_text
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


def png(colour: str = "white", size: tuple[int, int] = (400, 560)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG", dpi=(50, 50))
    return buffer.getvalue()


@pytest.fixture
def ready(filesystem_storage, settings, organisation):
    """Items ready to file (no scanner), prepared (text, page count) as after a clean scan."""
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation, name="Reception scanner")

    def make(data: bytes, filename: str = "scan.pdf") -> InboxItem:
        item = receive(source, data, filename=filename).item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item

    return make


def _objects(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_merge_joins_the_pages_in_the_order_chosen_and_keeps_the_sources_as_received(
    ready, clinician, filesystem_storage
):
    # given a letter's second page and its first page as separate scans, and a photo of an enclosure
    second = ready(letter_pdf(["Page two of the letter"], ["Page three of the letter"]), "scan-0002.pdf")
    first = ready(letter_pdf(["Page one of the letter"]), "scan-0001.pdf")
    photo = ready(png("red"), "enclosure.png")
    originals = {item.pk: storage.read_bytes(item.storage_key) for item in (first, second, photo)}

    # when they are merged first, second, photo
    merged = inbox_merge(actor=clinician, items=[first, second, photo])

    # then the new item is a PDF of 4 pages in that order, received like any other and ready to file
    assert merged.state == ItemState.READY and merged.content_type == "application/pdf"
    assert merged.original_filename == "scan-0001 (merged, 3 items).pdf"
    assert merged.provenance["merged_from"] == [str(first.pk), str(second.pk), str(photo.pk)]
    data = storage.read_bytes(merged.storage_key)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 4
        # 400 x 560 px at 50 dpi: 8 x 11.2 inches
        assert [float(value) for value in pdf.pages[3].mediabox] == pytest.approx([0, 0, 576, 806.4], abs=0.5)
    inbox_prepare(item_id=merged.pk)
    merged.refresh_from_db()
    assert merged.page_count == 4 and merged.thumbnail_key
    pages = merged.text.split("\f")
    assert "Page one" in pages[0] and "Page two" in pages[1] and "Page three" in pages[2]
    # and the sources are closed as merged into it, in their places, their bytes untouched
    for position, source in enumerate((first, second, photo), start=1):
        source.refresh_from_db()
        assert (source.state, source.merged_into_id, source.merge_position) == (ItemState.MERGED, merged.pk, position)
        assert source.closed_by == clinician and storage.read_bytes(source.storage_key) == originals[source.pk]
    assert list(merged.merged_from.order_by("merge_position")) == [first, second, photo]
    # and audited: each source, the merge, and the new item's receipt by the person who merged
    assert AuditEvent.objects.filter(action="inbox.item_merged").count() == 3
    event = AuditEvent.objects.get(action="inbox.items_merged")
    assert event.actor_id == clinician.pk and event.details["merged_from"] == merged.provenance["merged_from"]
    assert AuditEvent.objects.get(action="inbox.item_received", object_id=str(merged.pk)).actor_id == clinician.pk


def test_the_merged_item_goes_through_the_virus_scan_like_any_other(ready, clinician, settings):
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    settings.QUILL_SCANNER = "clamd"
    merged = inbox_merge(actor=clinician, items=[first, second])
    assert merged.state == ItemState.SCANNING and merged.scan_status == "pending"
    assert merged.sha256 and merged.size == len(storage.read_bytes(merged.storage_key))


def test_a_merged_item_is_filed_with_provenance_back_to_its_sources(ready, clinician, patient):
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    merged = inbox_merge(actor=clinician, items=[second, first])
    inbox_prepare(item_id=merged.pk)
    merged.refresh_from_db()
    document = inbox_file(
        actor=clinician, item=merged, filing=Filing(patient=patient, category="letter", document_date=date(2026, 12, 1))
    )
    assert document.sha256 == merged.sha256 and FiledDocument.objects.get(document=document).item == merged
    assert [item.pk for item in merged.merged_from.order_by("merge_position")] == [second.pk, first.pk]


def _snapshot(root) -> tuple:
    return (
        sorted(InboxItem.objects.values_list("pk", "state", "merged_into_id")),
        _objects(root),
        AuditEvent.objects.filter(action__in=["inbox.item_merged", "inbox.items_merged"]).count(),
    )


@pytest.mark.parametrize(
    ("case", "error", "code"),
    [
        pytest.param("one item", MergeInvalid, "inbox_merge_invalid", id="one-item"),
        pytest.param("same item twice", MergeInvalid, "inbox_merge_invalid", id="same-twice"),
        pytest.param("filed", ItemNotOpen, "inbox_item_closed", id="filed"),
        pytest.param("rejected", ItemNotOpen, "inbox_item_closed", id="rejected"),
        pytest.param("scanning", ItemNotReady, "inbox_item_not_ready", id="not-clean-yet"),
        pytest.param("dicom-like type", MergeInvalid, "inbox_merge_invalid", id="not-mergeable-type"),
    ],
)
def test_a_refused_merge_leaves_nothing_behind(ready, clinician, patient, filesystem_storage, case, error, code):
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    items = [first, second]
    if case == "one item":
        items = [first]
    elif case == "same item twice":
        items = [first, first]
    elif case == "filed":
        inbox_file(actor=clinician, item=second, filing=Filing(patient=patient, category="letter"))
    elif case == "rejected":
        inbox_reject(actor=clinician, item=second, reason="Not ours")
    elif case == "scanning":
        InboxItem.objects.filter(pk=second.pk).update(state=ItemState.SCANNING)
        second.refresh_from_db()
    elif case == "dicom-like type":
        InboxItem.objects.filter(pk=second.pk).update(content_type="application/dicom")
        second.refresh_from_db()
    before = _snapshot(filesystem_storage)

    with pytest.raises(error) as refused:
        inbox_merge(actor=clinician, items=items)

    assert refused.value.error_code == code and refused.value.http_status in (400, 409)
    assert _snapshot(filesystem_storage) == before


def test_an_item_closed_while_the_merge_was_being_made_refuses_it_and_removes_the_new_object(
    ready, clinician, filesystem_storage
):
    # given the items were read as ready, but one was rejected by a colleague before the merge locked them
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    InboxItem.objects.filter(pk=second.pk).update(state=ItemState.REJECTED)
    before = _snapshot(filesystem_storage)
    with pytest.raises(ItemNotOpen):
        inbox_merge(actor=clinician, items=[first, second])  # `second` still says ready in memory
    assert _snapshot(filesystem_storage) == before


def test_merging_twice_is_refused_the_second_time(ready, clinician):
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    inbox_merge(actor=clinician, items=[first, second])
    with pytest.raises(ItemNotOpen):
        inbox_merge(actor=clinician, items=[first, second])
    assert InboxItem.objects.count() == 3


def test_a_multi_page_tiff_becomes_one_page_per_frame(ready, clinician, tmp_path):
    frames = [Image.new("L", (300, 420), shade) for shade in (0, 128, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="TIFF", save_all=True, append_images=frames[1:], dpi=(100, 100))
    tiff = ready(buffer.getvalue(), "fax.tif")
    letter = ready(letter_pdf(["Cover"]))
    merged = inbox_merge(actor=clinician, items=[letter, tiff])
    path = tmp_path / "merged.pdf"
    path.write_bytes(storage.read_bytes(merged.storage_key))
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 4
    assert len(document_text(str(path), "application/pdf", organisation_id=merged.organisation_id)) == 4


# --- portal ---------------------------------------------------------------------------------------


def test_bulk_merge_asks_for_the_order_then_merges_and_opens_the_new_item(ready, clinician):
    first, second = ready(letter_pdf(["Page one"])), ready(letter_pdf(["Page two"]))
    client = factories.signed_in_client(clinician)
    chosen = client.post("/inbox/bulk/", {"items": [str(second.pk), str(first.pk)], "action": "merge"})
    assert chosen.status_code == 302 and chosen["Location"].startswith("/inbox/merge/?items=")
    page = client.get(chosen["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index(f'name="position-{first.pk}"') < html.index(f'name="position-{second.pk}"')  # oldest first
    response = client.post(
        "/inbox/merge/",
        {"items": [str(first.pk), str(second.pk)], f"position-{first.pk}": "2", f"position-{second.pk}": "1"},
    )
    merged = InboxItem.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert response.status_code == 302 and response["Location"] == f"/inbox/{merged.pk}/"
    assert merged.provenance["merged_from"] == [str(second.pk), str(first.pk)]
    item_page = client.get(f"/inbox/{merged.pk}/").content.decode()
    assert "Merged from" in item_page and f"/inbox/{second.pk}/" in item_page
    source_page = client.get(f"/inbox/{first.pk}/").content.decode()
    assert "Merged into" in source_page and "as part 2" in source_page


@pytest.mark.parametrize(
    "positions",
    [pytest.param(("1", "3"), id="out-of-range"), pytest.param(("one", "2"), id="not-a-number")],
)
def test_a_bad_position_is_explained_and_nothing_is_merged(ready, clinician, filesystem_storage, positions):
    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    before = _snapshot(filesystem_storage)
    response = factories.signed_in_client(clinician).post(
        "/inbox/merge/",
        {"items": [str(first.pk), str(second.pk)], f"position-{first.pk}": positions[0],
         f"position-{second.pk}": positions[1]},
    )  # fmt: skip
    assert response.status_code == 400 and "a position from 1 to 2" in response.content.decode()
    assert _snapshot(filesystem_storage) == before


def test_merging_another_organisations_item_is_404_and_changes_nothing(
    ready, clinician, other_organisation, filesystem_storage
):
    mine = ready(letter_pdf(["Mine"]))
    theirs = receive(make_source(other_organisation), letter_pdf(["Theirs"])).item
    before = _snapshot(filesystem_storage)
    client = factories.signed_in_client(clinician)
    body = {"items": [str(mine.pk), str(theirs.pk)], f"position-{mine.pk}": "1", f"position-{theirs.pk}": "2"}
    assert client.post("/inbox/merge/", body).status_code == 404
    assert client.get(f"/inbox/merge/?items={mine.pk}&items={theirs.pk}").status_code == 404
    assert client.get("/inbox/merge/?items=not-a-uuid").status_code == 404
    assert _snapshot(filesystem_storage) == before
    assert Document.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_people_merging_the_same_items_at_once_make_one_merged_item(ready, clinician, organisation):
    import threading

    from django.db import connections

    first, second = ready(letter_pdf(["One"])), ready(letter_pdf(["Two"]))
    colleague = factories.make_user(organisation, ["clinician"])
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def merge(actor) -> None:
        # each with its own copies of the items, as two requests would have
        items = list(InboxItem.objects.select_related("source").filter(pk__in=[first.pk, second.pk]).order_by("pk"))
        try:
            start.wait(10)
            inbox_merge(actor=actor, items=items)
            outcomes.append("merged")
        except ItemNotOpen:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=merge, args=(actor,)) for actor in (clinician, colleague)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["merged", "refused"]
    merged = InboxItem.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert set(InboxItem.objects.filter(merged_into=merged).values_list("pk", flat=True)) == {first.pk, second.pk}
    # the refused merge's object was removed: only the three items' objects (and the thumbnails) are stored
    keys = {key for key, _, _ in storage.list_keys(f"{organisation.pk}/inbox/")}
    assert {key for key in keys if not key.endswith(".webp")} == {first.storage_key, second.storage_key,
                                                                    merged.storage_key}  # fmt: skip
