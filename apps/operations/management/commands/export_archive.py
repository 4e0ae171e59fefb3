"""Write a self-contained archive (one .tar) of one organisation or the whole installation.

    manage.py export_archive PATH.tar [--organisation ID]

Rows, audit events (in chain order), stored objects and a manifest with every file's sha256
and the audit chain heads; see apps/operations/archive/ for the layout. Each object is
re-hashed as it is copied: a missing object or one whose bytes no longer match its recorded
sha256 is reported and makes the command exit 1 (the archive is still written, and says so
in its manifest). The archive holds patient data and password hashes: keep it encrypted.
"""

from __future__ import annotations

import os

from django.core.management.base import CommandParser

from apps.accounts.options import organisation_id_option
from apps.files.errors import StorageUnavailable
from apps.operations.archive.export import export_archive
from quill.commands import QuillCommand, Unable


class Command(QuillCommand):
    help = "Write a self-contained archive (.tar) of one organisation or all: rows, audit events, objects, manifest."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the archive file to write (must end in .tar and not exist yet)")
        parser.add_argument("--organisation", metavar="ID", help="only this organisation (its UUID)")

    def run(self, *, path: str, organisation: str | None, **options) -> None:
        if not path.endswith(".tar"):
            raise Unable("The archive path must end in .tar.")
        if os.path.exists(path):
            raise Unable(f"{path} already exists; choose a new name (archives are never overwritten).")
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise Unable(f"The folder for {path} does not exist.")
        organisation_id = organisation_id_option(organisation)
        try:
            result = export_archive(
                path,
                organisation_id=organisation_id,
                progress=lambda items: self.track(items, description="Copying objects"),
            )
        except StorageUnavailable as exc:
            raise Unable(f"The document store cannot be reached ({exc.__cause__ or exc}); no archive written.") from exc
        for key in result.missing:
            self.stdout.write(f"MISSING   {key}: the stored object does not exist")
        for key in result.mismatched:
            self.stdout.write(f"MISMATCH  {key}: its bytes no longer match the recorded sha256 (run verify_storage)")
        counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in result.counts.items())
        self.summary(
            f"Wrote {path}: {counts}; {result.objects} object(s), {result.object_bytes} bytes"
            + (f"; {len(result.missing)} missing" if result.missing else "")
            + (f"; {len(result.mismatched)} mismatched" if result.mismatched else "")
            + ".",
            problems=result.problems,
        )
