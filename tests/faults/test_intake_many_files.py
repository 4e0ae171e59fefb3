"""1,000 files dropped at once into the watched folder while `run_intake` runs (issue 19's fault list).

They appear together (each renamed in from a folder on the same file system, as a scanner's batch
or a fax server's backlog would), among them byte-identical copies and files with active content.
Every file ends as exactly one inbox item: stored and queued once for preparation, flagged as a
duplicate of the first copy (not stored twice), or refused with its file moved to `refused/`.
None is lost, none is taken twice, no object is left without its item, and every item has
exactly one intake audit event.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis

from apps.audit.models import AuditEvent
from apps.files import storage
from apps.inbox.models import InboxItem, ItemState, SourceKind
from tests.documents import samples
from tests.faults.conftest import broker_env, filesystem_env, quill_env
from tests.inbox.helpers import letter_pdf, make_source
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
FILES = 1000
COPIES = 10  # byte-identical copies of other files in the batch
REFUSED = 10  # PDFs that run JavaScript when opened


def _letters(count: int) -> list[bytes]:
    """`count` different valid PDFs, cheaply: one letter with a numbered comment after its xref table."""
    head, _, tail = letter_pdf(["Clinic letter", "Dear Dr Example,"]).rpartition(b"trailer")
    return [head + b"%quill-letter-" + str(number).encode() + b"\ntrailer" + tail for number in range(count)]


def _wait(check, *, timeout: float, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert process.poll() is None, f"run_intake exited: {log.read_text()[-2000:]}"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _queued_items(url: str, queue: str) -> Counter[str]:
    """The item ids of the preparation tasks waiting on `queue` (kombu keeps each queue as a Redis list)."""
    client = redis.Redis.from_url(url)
    try:
        queued: Counter[str] = Counter()
        for raw in client.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            assert headers["task"] == "inbox.after_available", headers["task"]
            queued[headers["argsrepr"].strip("(),'")] += 1
        return queued
    finally:
        client.delete(queue)
        client.close()


def test_a_thousand_files_dropped_at_once_each_become_exactly_one_item(settings, tmp_path, organisation, redis_url):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    folder, staging = tmp_path / "scans", tmp_path / "staging"
    folder.mkdir()
    staging.mkdir()
    (tmp_path / "var").mkdir()
    make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(folder))

    unique = _letters(FILES - COPIES - REFUSED)
    batch = {f"scan-{number:04d}.pdf": data for number, data in enumerate(unique)}
    batch |= {f"copy-{number:02d}.pdf": unique[number * 7] for number in range(COPIES)}
    batch |= {f"macro-{number:02d}.pdf": samples.pdf_with_open_action_javascript() for number in range(REFUSED)}
    assert len(batch) == FILES
    for name, data in batch.items():
        (staging / name).write_bytes(data)

    queue = f"intake-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **quill_env(**filesystem_env(tmp_path / "documents"), **broker_env(redis_url)),
        "QUILL_SCANNER": "none",
        "QUILL_VAR_DIR": str(tmp_path / "var"),
        "QUILL_CELERY_QUEUE": queue,
    }
    log = tmp_path / "intake.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_intake", "--stable-seconds", "0.5"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        heartbeat = tmp_path / "var" / "intake-heartbeat"
        _wait(heartbeat.exists, timeout=60, what="run_intake to watch the folder", process=process, log=log)
        for name in batch:  # all at once: renames on one file system, a few milliseconds in all
            os.rename(staging / name, folder / name)
        _wait(
            lambda: not any(path.is_file() for path in folder.iterdir()) and InboxItem.objects.count() >= FILES,
            timeout=300, what="every file to be taken", process=process, log=log,
        )  # fmt: skip
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    items = list(InboxItem.objects.all())
    assert sorted(item.original_filename for item in items) == sorted(batch), "a file lost or taken twice"
    by_name = {item.original_filename: item for item in items}
    states = Counter(item.state for item in items)
    assert states == {ItemState.READY: len(unique), ItemState.DUPLICATE: COPIES, ItemState.REFUSED: REFUSED}
    for name, data in batch.items():
        item = by_name[name]
        if item.state == ItemState.READY:
            assert (
                storage.read_bytes(item.storage_key) == data and storage.stored_sha256(item.storage_key) == item.sha256
            )
        elif item.state == ItemState.DUPLICATE:
            first = InboxItem.objects.get(pk=item.duplicate_of_id)
            assert first.state == ItemState.READY and first.sha256 == item.sha256 and not item.storage_key
        else:
            assert item.refusal_code and not item.storage_key
            assert item.provenance["kept_at"].startswith("refused/")
    assert sorted(path.name for path in (folder / "refused").iterdir()) == sorted(
        name for name in batch if name.startswith("macro-")
    )
    stored = {item.storage_key for item in items if item.storage_key}
    objects = {key for key, _, _ in storage.list_keys(f"{organisation.pk}/inbox/")}
    assert objects == stored, "an object without its item, or an item without its object"
    events = Counter(
        AuditEvent.objects.filter(
            action__in=["inbox.item_received", "inbox.item_duplicate", "inbox.item_refused"]
        ).values_list("object_id", flat=True)
    )
    assert events == {str(item.pk): 1 for item in items}
    queued = _queued_items(redis_url, queue)
    assert queued == {str(item.pk): 1 for item in items if item.state == ItemState.READY}
