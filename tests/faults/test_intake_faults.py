"""Intake under faults, with the real services: S3 down during ingest, clamd down, then back.

Each test ends with every source item present exactly once and nothing half-done: no row
without its object, no object without its row, the source file still there until stored.
"""

from __future__ import annotations

import threading
import time

import pytest

from apps.files import storage
from apps.files.errors import ScannerUnavailable
from apps.inbox.models import InboxItem, ItemState, SourceKind
from apps.inbox.sources.folder import FolderWatcher, folder_pass
from apps.inbox.tasks import scan_inbox_item
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


def test_s3_down_during_folder_ingest_keeps_the_files_and_takes_each_once_when_back(
    s3_storage, s3_server, organisation, tmp_path
):
    folder = tmp_path / "scans"
    folder.mkdir()
    for number in range(3):
        (folder / f"scan-{number}.pdf").write_bytes(letter_pdf([f"Scan {number}"]))
    source = make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(folder))
    watcher = FolderWatcher(source, stable_seconds=0)
    watcher.ready()
    s3_server.stop()
    failures: list[str] = []
    assert folder_pass(watcher, on_error=lambda path, exc: failures.append(type(exc).__name__)) == 0
    assert failures == ["StorageUnavailable"] * 3
    assert InboxItem.objects.count() == 0 and len(list(folder.iterdir())) == 3
    s3_server.start()
    watcher.ready()
    assert folder_pass(watcher) == 3
    assert InboxItem.objects.count() == 3 and list(folder.iterdir()) == []
    for item in InboxItem.objects.all():
        assert storage.stored_sha256(item.storage_key) == item.sha256
    assert len(list(storage.list_keys(f"{organisation.pk}/inbox/"))) == 3


def test_clamd_down_leaves_items_waiting_then_scans_them_once(
    filesystem_storage, scanner, clamd_server, eager_celery, organisation
):
    item = receive(make_source(organisation), letter_pdf(["Waiting for clamd"])).item
    clamd_server.stop()
    with pytest.raises(ScannerUnavailable):
        scan_inbox_item.run(str(item.pk))
    item.refresh_from_db()
    assert item.state == ItemState.SCANNING and item.scan_attempts == 1
    clamd_server.start()
    assert scan_inbox_item.run(str(item.pk)) == "clean"
    assert scan_inbox_item.run(str(item.pk)) == "skipped"
    item.refresh_from_db()
    assert item.state == ItemState.READY and item.scan_attempts == 2


def test_a_slowly_written_scan_is_taken_whole_once(filesystem_storage, organisation, tmp_path):
    """A scanner writing a large scan in pieces (scaled: 2 MiB over ~2 s, stable time 0.6 s)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    data = letter_pdf(*[[f"Page {n}", "x" * 80] for n in range(1, 40)])
    head, _, tail = data.rpartition(b"trailer")  # a comment after the xref table keeps every offset valid
    data = head + b"%" + b"0" * (2 * 1024 * 1024 - len(data)) + b"\ntrailer" + tail
    source = make_source(organisation, kind=SourceKind.FOLDER, name="Slow scanner", folder_path=str(folder))
    watcher = FolderWatcher(source, stable_seconds=0.6)
    target = folder / "big-scan.pdf"
    writer_done = threading.Event()

    def write_slowly() -> None:
        with open(target, "wb") as sink:
            for start in range(0, len(data), len(data) // 10):
                sink.write(data[start : start + len(data) // 10])
                sink.flush()
                time.sleep(0.2)
        writer_done.set()

    thread = threading.Thread(target=write_slowly)
    thread.start()
    deadline = time.monotonic() + 30
    while target.exists() or not writer_done.is_set():
        assert time.monotonic() < deadline, "the scan was never taken"
        watcher.ready()
        folder_pass(watcher)
        if not writer_done.is_set():
            assert InboxItem.objects.count() == 0, "a half-written scan was taken"
        time.sleep(0.1)
    thread.join()
    [item] = InboxItem.objects.all()
    assert item.state == ItemState.SCANNING or item.state == ItemState.READY
    assert item.size == len(data) and storage.read_bytes(item.storage_key) == data
