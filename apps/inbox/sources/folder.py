"""The watched folder: take each file once it has stopped changing, then acknowledge it.

A file is taken when its size and modification time have not changed for
``stable_seconds`` (a scanner or fax server writing slowly is never read half-way),
then goes through ``inbox_receive``. Only after its item is committed is the file
acknowledged: removed, or, when it was refused, moved into the folder's ``refused/``
subfolder so the bytes stay where an administrator can find them. The identity is
folder, name, inode, modification time and SHA-256: a crash between commit and
acknowledgement finds the same identity on the next pass and only acknowledges.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apps.files.spooling import read_chunks
from apps.inbox.models import InboxItem, IntakeSource, ItemState
from apps.inbox.services.intake import Received, inbox_receive

logger = logging.getLogger(__name__)

REFUSED_FOLDER = "refused"
# Names writers use for files still being written; never taken, whatever their age.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", "~")


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


@dataclass
class FolderWatcher:
    """Tracks the files of one folder source between passes and says which are ready to take."""

    source: IntakeSource
    stable_seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.source.folder_path

    def _files(self) -> Iterator[os.DirEntry[str]]:
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            logger.error("watched folder is missing", extra={"folder": self.path, "source": str(self.source.pk)})
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(PARTIAL_SUFFIXES):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    yield entry

    def ready(self) -> list[str]:
        """Files unchanged for ``stable_seconds`` (oldest first); remembers the others for the next pass."""
        now = self.clock()
        present: dict[str, _Seen] = {}
        ready: list[tuple[int, str]] = []
        for entry in self._files():
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            previous = self._seen.get(entry.name)
            if previous and (previous.size, previous.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                present[entry.name] = previous
                if now - previous.since >= self.stable_seconds:
                    ready.append((stat.st_mtime_ns, entry.path))
            else:
                present[entry.name] = _Seen(stat.st_size, stat.st_mtime_ns, now)
        self._seen = present
        return [path for _, path in sorted(ready)]


def _identity(source: IntakeSource, name: str, stat: os.stat_result) -> str:
    return f"folder:{source.pk}:{name}:{stat.st_ino}:{stat.st_mtime_ns}"


def _refused_target(folder: str, name: str) -> str:
    os.makedirs(os.path.join(folder, REFUSED_FOLDER), exist_ok=True)
    stem, dot, ext = name.rpartition(".")
    target = os.path.join(folder, REFUSED_FOLDER, name)
    counter = 1
    while os.path.exists(target):
        target = os.path.join(folder, REFUSED_FOLDER, f"{stem or ext}-{counter}{dot}{ext if stem else ''}")
        counter += 1
    return target


def _acknowledge(item: InboxItem, path: str, folder: str) -> None:
    if item.state != ItemState.REFUSED:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    target = _refused_target(folder, os.path.basename(path))
    os.replace(path, target)
    kept = os.path.relpath(target, folder)
    InboxItem.objects.filter(pk=item.pk).update(provenance={**item.provenance, "kept_at": kept})


def folder_ingest_file(*, source: IntakeSource, path: str) -> Received | None:
    """Receive one file of the folder and acknowledge it; None when it vanished or changed meanwhile."""
    name = os.path.basename(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the stat that must see the same file
    except FileNotFoundError:
        return None
    with handle:
        before = os.fstat(handle.fileno())
        provenance = {
            "folder": source.folder_path,
            "filename": name,
            "inode": before.st_ino,
            "modified": datetime.fromtimestamp(before.st_mtime, tz=UTC).isoformat(),
            "size": before.st_size,
        }
        received = inbox_receive(
            source=source,
            filename=name,
            chunks=read_chunks(handle),
            source_identity=_identity(source, name, before),
            identity_includes_sha256=True,
            provenance=provenance,
        )
        after = os.fstat(handle.fileno())
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        # Written to while read: leave it; its new mtime makes a new identity on the next pass.
        logger.warning("file changed while it was read; it will be taken again", extra={"filename": name})
        return None
    _acknowledge(received.item, path, source.folder_path)
    return received


def folder_pass(watcher: FolderWatcher, *, on_error: Callable[[str, Exception], None] | None = None) -> int:
    """Take every ready file of one folder; returns how many were taken. One bad file never stops the rest."""
    taken = 0
    for path in watcher.ready():
        try:
            if folder_ingest_file(source=watcher.source, path=path) is not None:
                taken += 1
        except Exception as exc:  # storage or database down: the file stays and is tried on the next pass
            logger.warning("could not take a file; it stays for the next pass", exc_info=True)
            if on_error is not None:
                on_error(path, exc)
    return taken
