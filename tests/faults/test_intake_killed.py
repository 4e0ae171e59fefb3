"""`run_intake` (the long-running loop, watchfiles) SIGKILLed mid-ingest, then started again.

Every file dropped into the folder ends as exactly one inbox item with its object, whatever
the moment of the kill; the folder ends empty. An object put just before the kill, whose row
never committed, is an orphan for `cleanup_orphans` (counted here, never a row without bytes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.files import storage
from apps.inbox.models import InboxItem, SourceKind
from tests.faults.conftest import broker_env, filesystem_env, quill_env
from tests.inbox.helpers import letter_pdf, make_source
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
FILES = 40


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_intake", "--stable-seconds", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_intake_killed_mid_ingest_takes_every_file_exactly_once(settings, tmp_path, organisation, redis_url):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    folder = tmp_path / "scans"
    folder.mkdir()
    (tmp_path / "var").mkdir()
    make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(folder))
    env = {
        **os.environ,
        **quill_env(**filesystem_env(tmp_path / "documents"), **broker_env(redis_url)),
        "QUILL_SCANNER": "none",
        "QUILL_VAR_DIR": str(tmp_path / "var"),
    }
    log = tmp_path / "intake.log"
    names = {f"scan-{number:03d}.pdf" for number in range(FILES)}
    for name in sorted(names):
        (folder / name).write_bytes(letter_pdf([f"Letter {name}"]))

    process = _start(env, log)
    try:
        _wait(lambda: InboxItem.objects.count() >= FILES // 4, timeout=60, what="the first items")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        taken_before = InboxItem.objects.count()
        assert taken_before < FILES, "killed too late to prove anything"
        process = _start(env, log)
        _wait(lambda: not any(folder.glob("*.pdf")), timeout=120, what="the folder to empty")
        _wait(lambda: (tmp_path / "var" / "intake-heartbeat").exists(), timeout=10, what="the heartbeat")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    items = list(InboxItem.objects.all())
    assert sorted(item.original_filename for item in items) == sorted(names)
    for item in items:
        assert storage.stored_sha256(item.storage_key) == item.sha256
    objects = [key for key, _, _ in storage.list_keys(f"{organisation.pk}/inbox/") if not key.endswith("_thumb.webp")]
    assert len(objects) - FILES in (0, 1), "at most the one object being put at the kill is an orphan"
