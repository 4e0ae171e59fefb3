"""Permanently remove the bytes of documents whose retention has ended.

    manage.py purge_expired [--organisation ID]            # dry run: lists what would go
    manage.py purge_expired --confirm [--organisation ID]  # removes it

Purges documents that are due (retain_until before today), not under a legal hold, and
either soft-deleted or covered by an accepted erasure request. Each loses its object and
thumbnail; its row stays as a tombstone (purged_at) and a `document.purged` audit event is
written. Accepted erasure requests whose patient has nothing left are marked completed.
"""

from __future__ import annotations

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.accounts.options import organisation_id_option
from apps.documents.services.retention import document_purge, documents_to_purge, erasure_requests_complete
from apps.files.errors import StorageUnavailable
from quill.commands import QuillCommand, Unable


class Command(QuillCommand):
    help = "Permanently remove due, soft-deleted, not-held documents' bytes; a dry run without --confirm."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--confirm", action="store_true", help="really remove (without it: a dry run)")
        parser.add_argument("--organisation", metavar="ID", help="only this organisation (its UUID)")

    def run(self, *, confirm: bool, organisation: str | None, **options) -> None:
        if confirm and self.dry_run:
            raise Unable("--confirm and --dry-run contradict each other; choose one.")
        self.dry_run = not confirm
        organisation_id = organisation_id_option(organisation)
        today = timezone.localdate()
        candidates = documents_to_purge(organisation_id=organisation_id, today=today)
        purged = skipped = 0
        rows = list(candidates.values_list("pk", "organisation_id", "patient_id", "retain_until"))
        try:
            for pk, organisation_pk, patient_pk, until in self.track(rows, description="Purging"):
                if self.dry_run:
                    self.stdout.write(
                        f"would purge {pk} (organisation {organisation_pk}, patient {patient_pk}, "
                        f"retained until {until})"
                    )
                    purged += 1
                elif document_purge(document_id=pk, today=today):
                    self.say(f"purged {pk}", level=2)
                    purged += 1
                else:
                    skipped += 1  # changed meanwhile (a legal hold, a restore)
        except StorageUnavailable as exc:
            raise Unable(
                f"The document store cannot be reached ({exc.__cause__ or exc}); purged {purged} document(s) "
                "before it failed. Run the purge again when it is back."
            ) from exc
        completed = [] if self.dry_run else erasure_requests_complete()
        verb = "Would purge" if self.dry_run else "Purged"
        self.summary(
            f"{verb} {purged} document(s)"
            + (f"; {skipped} skipped because they changed meanwhile" if skipped else "")
            + (f"; {len(completed)} erasure request(s) completed" if completed else "")
            + ("; run with --confirm to remove them" if self.dry_run and purged else "")
            + "."
        )
