"""Send letters to EHRbase again: one letter, or every dead-lettered push."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from apps.letters.models import Letter, LetterStatus
from apps.letters.services import OUTBOX_KIND
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from apps.outbox.services import outbox_enqueue, outbox_requeue
from quill.commands import QuillCommand


class Command(QuillCommand):
    help = "Queue openEHR pushes again: --letter ID for one letter, --failed for every dead-lettered push."
    changes_state = True  # --dry-run: say what would be queued; change nothing

    def add_command_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--letter", help="The id of one final letter.")
        which.add_argument("--failed", action="store_true", help="Every dead-lettered letter push.")

    def run(self, *, letter: str | None = None, failed: bool = False, **options) -> None:
        dry_run = self.dry_run
        if not settings.QUILL_EHRBASE_URL:
            raise CommandError("QUILL_EHRBASE_URL is not set; letters cannot be sent to EHRbase.")
        messages = OutboxMessage.objects.filter(target=Target.OPENEHR, kind=OUTBOX_KIND)
        if failed:
            dead = messages.filter(status=MessageStatus.DEAD)
            count = dead.count()
            if not dry_run:
                with transaction.atomic():
                    outbox_requeue(messages=dead)
            self._summary(count, 0, dry_run)
            return
        assert letter is not None, "argparse requires --letter or --failed"
        target = self._final_letter(letter)
        pending = messages.filter(object_id=str(target.pk), status=MessageStatus.PENDING).exists()
        if pending:
            self._summary(0, 1, dry_run, note=" (a push is already pending)")
            return
        if not dry_run:
            with transaction.atomic():
                outbox_enqueue(
                    target=Target.OPENEHR,
                    kind=OUTBOX_KIND,
                    object_id=str(target.pk),
                    organisation_id=target.organisation_id,
                )
        self._summary(1, 0, dry_run)

    def _final_letter(self, letter_id: str) -> Letter:
        try:
            pk = uuid.UUID(letter_id)
        except ValueError as exc:
            raise CommandError(f"{letter_id!r} is not a letter id.") from exc
        letter = Letter.objects.filter(pk=pk).first()
        if letter is None:
            raise CommandError(f"No letter {letter_id}.")
        if letter.status != LetterStatus.FINAL:
            raise CommandError(f"Letter {letter_id} is a draft; only final letters are sent.")
        return letter

    def _summary(self, queued: int, skipped: int, dry_run: bool, note: str = "") -> None:
        verb = "would queue" if dry_run else "queued"
        self.stdout.write(f"resync_ehr: {verb} {queued} letter push(es), skipped {skipped}{note}.")
