"""The watched folder: size-stable pick-up, acknowledgement after commit, refusals kept, exactly once."""

from __future__ import annotations

import os

import pytest

from apps.files import storage
from apps.inbox.models import InboxItem, ItemState, SourceKind
from apps.inbox.sources.folder import FolderWatcher, folder_ingest_file, folder_pass
from tests.documents import samples
from tests.inbox.helpers import letter_pdf, make_source

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "scans"
    path.mkdir()
    return path


@pytest.fixture
def source(organisation, folder):
    return make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(folder))


def test_file_is_taken_only_once_unchanged_for_the_stable_time(filesystem_storage, source, folder):
    clock = Clock()
    watcher = FolderWatcher(source, stable_seconds=5, clock=clock)
    scan = folder / "scan-0001.pdf"
    scan.write_bytes(letter_pdf(["Part one"])[:200])
    assert watcher.ready() == []
    clock.now = 3
    scan.write_bytes(letter_pdf(["Part one"]))  # still being written: size changed
    assert watcher.ready() == []
    clock.now = 7
    assert watcher.ready() == []  # unchanged for only 4 s
    clock.now = 8.1
    assert watcher.ready() == [str(scan)]


def test_partial_and_hidden_names_are_never_taken(filesystem_storage, source, folder):
    clock = Clock()
    watcher = FolderWatcher(source, stable_seconds=0, clock=clock)
    for name in ("scan.pdf.part", ".scan.pdf", "scan.tmp"):
        (folder / name).write_bytes(letter_pdf(["x"]))
    watcher.ready()
    clock.now = 1
    assert watcher.ready() == []


def test_taken_file_is_stored_then_removed(filesystem_storage, source, folder):
    data = letter_pdf(["Referral"])
    (folder / "referral.pdf").write_bytes(data)
    received = folder_ingest_file(source=source, path=str(folder / "referral.pdf"))
    assert received is not None and received.created
    assert storage.read_bytes(received.item.storage_key) == data
    assert received.item.provenance["filename"] == "referral.pdf" and received.item.provenance["inode"]
    assert not (folder / "referral.pdf").exists()


def test_refused_file_moves_to_the_refused_folder_and_the_item_says_where(filesystem_storage, source, folder):
    data = samples.pdf_with_open_action_javascript()
    (folder / "macro.pdf").write_bytes(data)
    (folder / "refused").mkdir()
    (folder / "refused" / "macro.pdf").write_bytes(b"an earlier one")
    received = folder_ingest_file(source=source, path=str(folder / "macro.pdf"))
    assert received is not None
    item = InboxItem.objects.get(pk=received.item.pk)
    assert item.state == ItemState.REFUSED and item.refusal_code == "active_content"
    assert item.provenance["kept_at"] == "refused/macro-1.pdf"
    assert (folder / "refused" / "macro-1.pdf").read_bytes() == data
    assert not (folder / "macro.pdf").exists()


def test_crash_before_acknowledging_takes_the_file_once(filesystem_storage, source, folder):
    # given a file received but not removed (the process died between commit and unlink)
    scan = folder / "scan.pdf"
    scan.write_bytes(letter_pdf(["Once"]))
    os.link(scan, folder / ".same-file")  # keeps the inode and mtime alive past the unlink
    first = folder_ingest_file(source=source, path=str(scan))
    os.rename(folder / ".same-file", scan)
    # when the next pass meets it again
    again = folder_ingest_file(source=source, path=str(scan))
    # then it is acknowledged without a second item
    assert first is not None and again is not None and not again.created
    assert again.item.pk == first.item.pk and InboxItem.objects.count() == 1
    assert not scan.exists()


def test_folder_pass_takes_every_ready_file(filesystem_storage, source, folder):
    for number in range(3):
        (folder / f"scan-{number}.pdf").write_bytes(letter_pdf([f"Letter {number}"]))
    watcher = FolderWatcher(source, stable_seconds=0)
    watcher.ready()
    assert folder_pass(watcher) == 3
    assert (
        InboxItem.objects.filter(state=ItemState.SCANNING).count()
        + InboxItem.objects.filter(state=ItemState.READY).count()
        == 3
    )
    assert os.listdir(folder) == []
