"""Remove objects no row points at (left by failed uploads), older than an age.

    manage.py cleanup_orphans --older-than 24h [--organisation ID] [--dry-run]

Never removes anything younger than --older-than (at least 1h, so an upload whose
row is not committed yet is never touched) and never anything a row points at:
each batch is looked up again just before it is removed. On S3 it also aborts
multipart uploads started longer ago than the age and never finished (a server
stopped in the middle of a streamed upload): their parts are invisible as objects
but still take space.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import timedelta

from django.core.management.base import CommandParser

from apps.accounts.options import organisation_id_option
from apps.files import storage
from apps.files.errors import StorageUnavailable
from apps.operations import integrity
from quill.commands import QuillCommand, Unable, describe_age, parse_duration

MINIMUM_AGE = timedelta(hours=1)


def _duration(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(QuillCommand):
    help = "Remove orphaned objects (no row points at them) older than --older-than (s, m, h or d)."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=_duration,
            default=timedelta(hours=24),
            metavar="AGE",
            help="only objects at least this old, e.g. 24h (default), 90m, 7d; at least 1h",
        )
        parser.add_argument("--organisation", metavar="ID", help="only under this organisation's prefix")

    def run(self, *, older_than: timedelta, organisation: str | None, **options) -> None:
        if older_than < MINIMUM_AGE:
            raise Unable(
                f"--older-than must be at least {describe_age(MINIMUM_AGE)}: younger objects may belong to "
                "uploads whose database row is not committed yet."
            )
        organisation_id = organisation_id_option(organisation)
        prefix = f"{organisation_id}/" if organisation_id else ""
        totals: Counter[str] = Counter()
        try:
            integrity.ensure_reachable()
            now = integrity.now_epoch()
            candidates = []
            for orphan in self.track(integrity.find_orphans(prefix=prefix), description="Listing orphans"):
                if orphan.age(now) < older_than:
                    totals["young"] += 1
                    continue
                candidates.append(orphan)
                if len(candidates) >= 200:
                    self._remove(candidates, now, totals)
                    candidates = []
            self._remove(candidates, now, totals)
            for upload in storage.list_incomplete_uploads(prefix):
                if now - upload.initiated < older_than.total_seconds():
                    continue
                if not self.dry_run:
                    storage.abort_incomplete_upload(upload)
                totals["aborted"] += 1
                verb = "would abort" if self.dry_run else "aborted"
                age = describe_age(timedelta(seconds=now - upload.initiated))
                self.stdout.write(f"{verb} unfinished upload of {upload.key} ({age} old)")
        except StorageUnavailable as exc:
            raise Unable(
                f"The document store cannot be reached ({exc.__cause__ or exc}); "
                f"{totals['removed']} orphan(s) were removed before it failed."
            ) from exc
        verb = "Would remove" if self.dry_run else "Removed"
        self.summary(
            f"{verb} {totals['removed']} orphaned object(s) ({totals['bytes']} bytes) older than "
            f"{describe_age(older_than)}; kept {totals['young']} younger orphan(s)"
            + (f" and {totals['claimed']} that a row now points at" if totals["claimed"] else "")
            + "."
            + (
                f" {'Would abort' if self.dry_run else 'Aborted'} {totals['aborted']} unfinished upload(s)."
                if totals["aborted"]
                else ""
            )
        )

    def _remove(self, candidates: list[integrity.Orphan], now: float, totals: Counter) -> None:
        if not candidates:
            return
        claimed = integrity.known_keys([orphan.key for orphan in candidates])
        for orphan in candidates:
            if orphan.key in claimed:
                totals["claimed"] += 1
                continue
            if not self.dry_run:
                storage.delete(orphan.key)
            totals["removed"] += 1
            totals["bytes"] += orphan.size
            verb = "would remove" if self.dry_run else "removed"
            self.stdout.write(f"{verb} {orphan.key} ({orphan.size} bytes, {describe_age(orphan.age(now))} old)")
