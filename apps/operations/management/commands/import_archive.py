"""Restore an archive written by export_archive into an EMPTY installation, or only check it.

    manage.py import_archive PATH.tar
    manage.py import_archive --verify-only PATH.tar

Every file and object is re-hashed while it is read, every audit event's hash is recomputed
and linked, and the restored chains are verified before anything is committed; on any
mismatch nothing is kept (exit 1). Refuses (exit 2) when the installation already holds
organisations, users, patients, documents, audit events or stored objects.
"""

from __future__ import annotations

from django.core.management.base import CommandParser

from apps.files.errors import StorageUnavailable
from apps.operations.archive.restore import import_archive
from apps.operations.errors import ArchiveError
from quill.commands import ProblemsFound, QuillCommand, Unable


class Command(QuillCommand):
    help = "Restore an export_archive .tar into an empty installation (or --verify-only), checking every hash."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the archive (.tar) written by export_archive")
        parser.add_argument("--verify-only", action="store_true", help="check the archive; import nothing")

    def run(self, *, path: str, verify_only: bool, **options) -> None:
        try:
            result = import_archive(
                path, verify_only=verify_only, progress=lambda items: self.track(items, description="Objects")
            )
        except ArchiveError as exc:
            message = str(exc)
            if "not empty" in message or "is not a file" in message:
                raise Unable(message) from exc
            verb = "Verification" if verify_only else "Import"
            raise ProblemsFound(f"{verb} failed; nothing was kept: {message}") from exc
        except StorageUnavailable as exc:
            raise Unable(
                f"The document store cannot be reached ({exc.__cause__ or exc}); nothing was imported."
            ) from exc
        for key in result.missing:
            self.stdout.write(f"MISSING   {key}: was already missing when the archive was written")
        counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in result.counts.items())
        verb = "Verified" if verify_only else "Imported"
        self.summary(
            f"{verb} {path}: {counts}; {result.events} audit event(s) in {result.chains} chain(s) verified; "
            f"{result.objects} object(s), {result.object_bytes} bytes, every sha256 matches"
            + (f"; {len(result.missing)} object(s) missing since export" if result.missing else "")
            + ".",
            problems=len(result.missing),
        )
