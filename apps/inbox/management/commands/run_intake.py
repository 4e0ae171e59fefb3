"""Run the intake sources: watched folders (watchfiles) and IMAP mailboxes, until stopped.

A long-running process (the `intake` service in docker-compose.yml). Each folder is
watched with inotify through watchfiles and also rescanned every half of
``QUILL_INTAKE_STABLE_SECONDS`` whatever the events say (the backstop for events lost
on network shares); each IMAP source runs in its own thread. SIGTERM stops it between
files. ``--once`` makes one pass over every source and exits (cron, tests, demo data).
Sources are read at start: restart the process after changing them in the admin.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import watchfiles
from django.conf import settings
from django.core.management.base import CommandParser
from django.db import close_old_connections

from apps.inbox.errors import SourceMisconfigured
from apps.inbox.models import IntakeSource, SourceKind
from apps.inbox.sources.folder import FolderWatcher, folder_pass
from apps.inbox.sources.imap import imap_loop, imap_pass
from quill.commands import QuillCommand

# Touched after every pass: the container's healthcheck (docker/intake_healthcheck.py) reads its age.
HEARTBEAT_NAME = "intake-heartbeat"
HEARTBEAT_SECONDS = 30


class Command(QuillCommand):
    help = "Take documents from the watched folders and IMAP mailboxes into the inbox (runs until stopped)."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass over every source, then exit.")
        parser.add_argument(
            "--stable-seconds",
            type=float,
            default=None,
            help="Take a file once unchanged this long (default QUILL_INTAKE_STABLE_SECONDS).",
        )

    def run(self, *, once: bool, stable_seconds: float | None, **options: Any) -> None:
        stable = stable_seconds
        stable = settings.QUILL_INTAKE_STABLE_SECONDS if stable is None else stable
        sources = list(
            IntakeSource.objects.filter(enabled=True, kind__in=[SourceKind.FOLDER, SourceKind.IMAP]).select_related(
                "organisation"
            )
        )
        watchers = [FolderWatcher(source, stable) for source in sources if source.kind == SourceKind.FOLDER]
        mailboxes = [source for source in sources if source.kind == SourceKind.IMAP]
        self.say(f"intake: {len(watchers)} folder(s), {len(mailboxes)} mailbox(es)")
        if once:
            self._once(watchers, mailboxes, stable)
            return
        self._run(watchers, mailboxes, stable)

    def _once(self, watchers: list[FolderWatcher], mailboxes: list[IntakeSource], stable: float) -> None:
        problems = 0
        for watcher in watchers:
            watcher.ready()  # first sight of each file; the second look below decides
        if watchers and stable > 0:
            time.sleep(stable)
        taken = 0
        for watcher in watchers:
            taken += folder_pass(watcher, on_error=lambda path, exc: self.stderr.write(f"{path}: {exc}"))
        for source in mailboxes:
            try:
                result = imap_pass(source)
                taken += result.items
            except (SourceMisconfigured, OSError) as exc:
                problems += 1
                self.stderr.write(f"{source.name}: {exc}")
        self.summary(f"intake: took {taken} item(s); {problems} source(s) could not be read", problems=problems)

    def _run(self, watchers: list[FolderWatcher], mailboxes: list[IntakeSource], stable: float) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        threads = [
            threading.Thread(
                target=imap_loop,
                args=(source,),
                kwargs={"stop": stop, "poll_seconds": settings.QUILL_INTAKE_IMAP_POLL_SECONDS},
                name=f"imap-{source.pk}",
                daemon=True,
            )
            for source in mailboxes
        ]
        for thread in threads:
            thread.start()
        paths = [watcher.path for watcher in watchers if os.path.isdir(watcher.path)]
        heartbeat = Path(settings.VAR_DIR) / HEARTBEAT_NAME
        if paths:
            wake_ms = max(int(stable * 500), 50)
            for _changes in watchfiles.watch(
                *paths, stop_event=stop, yield_on_timeout=True, rust_timeout=wake_ms, recursive=False, debounce=wake_ms
            ):
                close_old_connections()
                for watcher in watchers:
                    folder_pass(watcher)
                heartbeat.touch()
                if stop.is_set():
                    break
        else:
            while not stop.wait(HEARTBEAT_SECONDS):
                heartbeat.touch()
        for thread in threads:
            thread.join(timeout=30)
        self.say("intake: stopped")
