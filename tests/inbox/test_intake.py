"""Receiving items: the upload pipeline's checks, refusals kept visible, duplicates flagged, exactly once."""

from __future__ import annotations

import hashlib
import os

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import ScanStatus
from apps.files import storage
from apps.files.errors import StorageUnavailable
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.tasks import scan_inbox_item, sweep_inbox_scans
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.inbox.helpers import letter_pdf, make_source, receive
from tests.services.clamd import QUILL_TEST_MALWARE, QUILL_TEST_MALWARE_SIGNATURE

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(organisation):
    return make_source(organisation, name="Reception scanner")


def _events(action):
    return list(AuditEvent.objects.filter(action=action))


def test_pdf_is_stored_with_its_hash_audited_and_queued_for_scan(
    any_storage, settings, source, upload_tmp, django_capture_on_commit_callbacks
):
    settings.QUILL_SCANNER = "clamd"
    data = letter_pdf(["Discharge summary"])
    with django_capture_on_commit_callbacks() as callbacks:
        received = receive(source, data, filename="scan 0001.pdf", provenance={"path": "scan 0001.pdf"})
    item = received.item
    assert received.created
    assert item.state == ItemState.SCANNING and item.scan_status == ScanStatus.PENDING
    assert item.sha256 == hashlib.sha256(data).hexdigest() and item.size == len(data)
    assert item.content_type == "application/pdf"
    assert item.storage_key.startswith(f"{source.organisation_id}/inbox/") and "scan" not in item.storage_key
    assert storage.read_bytes(item.storage_key) == data
    assert storage.stored_sha256(item.storage_key) == item.sha256
    [event] = _events("inbox.item_received")
    assert event.details["sha256"] == item.sha256 and event.actor_username == "system:intake:api"
    assert len(callbacks) == 1
    assert os.listdir(upload_tmp) == []


def test_same_identity_is_received_once(filesystem_storage, source):
    first = receive(source, letter_pdf(["One"]), identity="api:key-1")
    again = receive(source, letter_pdf(["One"]), identity="api:key-1")
    assert first.created and not again.created
    assert again.item.pk == first.item.pk
    assert InboxItem.objects.count() == 1
    assert len(_events("inbox.item_received")) == 1


def test_identity_with_sha256_tells_changed_content_apart(filesystem_storage, source):
    first = receive(source, letter_pdf(["One"]), identity="folder:a.pdf", identity_includes_sha256=True)
    same = receive(source, letter_pdf(["One"]), identity="folder:a.pdf", identity_includes_sha256=True)
    other = receive(source, letter_pdf(["Two"]), identity="folder:a.pdf", identity_includes_sha256=True)
    assert first.created and not same.created and other.created
    assert first.item.source_identity.endswith(first.item.sha256)


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("script.pdf", samples.pdf_with_open_action_javascript(), "active_content"),
        ("embedded.pdf", samples.pdf_with_embedded_file(), "active_content"),
        ("program.pdf", samples.windows_executable(), "unsupported_type"),
        ("locked.pdf", samples.encrypted_pdf(), "encrypted_pdf"),
        ("empty.pdf", b"", "empty_file"),
        ("picture.pdf", samples.png(), "extension_mismatch"),
    ],
    ids=["javascript", "embedded-file", "executable", "encrypted", "empty", "wrong-extension"],
)
def test_refused_item_is_kept_with_reason_and_provenance_without_bytes(
    filesystem_storage, source, upload_tmp, filename, data, code
):
    received = receive(source, data, filename=filename, provenance={"path": f"in/{filename}"})
    item = received.item
    assert item.state == ItemState.REFUSED
    assert item.refusal_code == code and item.refusal_reason
    assert item.provenance == {"path": f"in/{filename}"}
    assert item.storage_key == "" and list(storage.list_keys(f"{source.organisation_id}/")) == []
    [event] = _events("inbox.item_refused")
    assert event.outcome == "denied" and event.details["reason"] == code
    assert os.listdir(upload_tmp) == []


def test_too_large_item_is_refused_with_nothing_spooled(filesystem_storage, settings, source, upload_tmp):
    settings.QUILL_MAX_UPLOAD_BYTES = 1000
    received = receive(source, letter_pdf(["x" * 50] * 30), identity="folder:big.pdf", identity_includes_sha256=True)
    assert received.item.state == ItemState.REFUSED and received.item.refusal_code == "file_too_large"
    assert received.item.sha256 == ""
    again = receive(source, letter_pdf(["x" * 50] * 30), identity="folder:big.pdf", identity_includes_sha256=True)
    assert not again.created and InboxItem.objects.count() == 1
    assert os.listdir(upload_tmp) == []


def test_byte_identical_copy_is_flagged_not_stored_twice(filesystem_storage, source):
    data = letter_pdf(["Lab report"])
    first = receive(source, data, identity="mail:1")
    copy = receive(source, data, identity="mail:2")
    assert copy.item.state == ItemState.DUPLICATE
    assert copy.item.duplicate_of_id == first.item.pk and copy.item.storage_key == ""
    assert len(list(storage.list_keys(f"{source.organisation_id}/inbox/"))) == 1
    assert len(_events("inbox.item_duplicate")) == 1


def test_copy_of_a_filed_document_is_flagged(filesystem_storage, source, clinician, patient):
    data = samples.pdf()
    document = stored_document(user=clinician, patient=patient, data=data)
    copy = receive(source, data)
    assert copy.item.state == ItemState.DUPLICATE and copy.item.duplicate_of_document_id == document.pk


def test_same_bytes_in_another_organisation_are_not_a_duplicate(filesystem_storage, source, other_organisation):
    data = letter_pdf(["Shared"])
    receive(source, data, identity="a")
    elsewhere = receive(make_source(other_organisation), data, identity="a")
    assert elsewhere.item.state != ItemState.DUPLICATE and elsewhere.created


def test_storage_outage_records_nothing(filesystem_storage, source, monkeypatch, upload_tmp):
    def unavailable(**kwargs):
        raise StorageUnavailable()

    monkeypatch.setattr(storage, "put_file", unavailable)
    with pytest.raises(StorageUnavailable):
        receive(source, letter_pdf(["x"]))
    assert InboxItem.objects.count() == 0 and AuditEvent.objects.filter(action__startswith="inbox.").count() == 0
    assert os.listdir(upload_tmp) == []


def test_clean_scan_makes_item_ready_with_thumbnail_text_and_page_count(
    filesystem_storage, scanner, eager_celery, source
):
    item = receive(source, letter_pdf(["Outpatient letter", "Seen today"], ["Page two"])).item
    assert scan_inbox_item(str(item.pk)) == "clean"
    item.refresh_from_db()
    assert item.state == ItemState.READY and item.scan_status == ScanStatus.CLEAN
    assert item.thumbnail_key.endswith("_thumb.webp") and storage.exists(item.thumbnail_key)
    assert item.page_count == 2 and "Outpatient letter" in item.text and "Page two" in item.text
    assert item.suggestions["title"] == "Outpatient letter"
    assert scan_inbox_item(str(item.pk)) == "skipped"
    assert len(_events("inbox.item_scanned")) == 1


def test_infected_item_is_quarantined_and_audited(filesystem_storage, scanner, eager_celery, source):
    data = letter_pdf(["Looks fine"])
    head, _, tail = data.rpartition(b"trailer")
    item = receive(source, head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail).item
    assert scan_inbox_item(str(item.pk)) == "infected"
    item.refresh_from_db()
    assert item.state == ItemState.INFECTED and item.scan_signature == QUILL_TEST_MALWARE_SIGNATURE
    assert item.closed_at is not None and item.thumbnail_key == ""
    [event] = _events("inbox.item_quarantined")
    assert event.outcome == "denied"


def test_scanner_disabled_makes_item_ready_at_once(
    filesystem_storage, settings, eager_celery, source, django_capture_on_commit_callbacks
):
    settings.QUILL_SCANNER = "none"
    with django_capture_on_commit_callbacks(execute=True):
        item = receive(source, letter_pdf(["Embedded run"])).item
    item.refresh_from_db()
    assert item.state == ItemState.READY and item.scan_status == ScanStatus.NOT_SCANNED
    assert item.prepared_at is not None


def test_sweep_requeues_items_stuck_waiting_for_a_scan(filesystem_storage, settings, scanner, eager_celery, source):
    item = receive(source, letter_pdf(["Lost message"])).item
    settings.QUILL_SCAN_SWEEP_AFTER_SECONDS = -1
    assert sweep_inbox_scans() == 1
    item.refresh_from_db()
    assert item.state == ItemState.READY
