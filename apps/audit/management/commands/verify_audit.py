"""Walk each audit chain, recompute every hash, and exit non-zero naming the first broken event."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError, CommandParser

from apps.audit.models import PLATFORM_CHAIN
from apps.audit.organisations import organisation_exists, organisation_names
from apps.audit.verification import chains_to_verify, verify_chain
from quill.commands import ProblemsFound, QuillCommand, Unable


class Command(QuillCommand):
    help = "Verify the audit hash chains (all, or one organisation's). Exits 1 naming the first broken event."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", metavar="ID", help="Verify only this organisation's chain (its UUID).")

    def run(self, *, organisation: str | None = None, **options) -> None:
        if organisation:
            try:
                organisation = str(uuid.UUID(organisation))
            except ValueError as exc:
                raise CommandError(f"--organisation must be an organisation id (UUID), not {organisation!r}") from exc
            if not organisation_exists(organisation):
                raise Unable(f"No organisation has id {organisation}.")
        names = organisation_names()
        broken = []
        total = 0
        for chain in chains_to_verify(organisation):
            result = verify_chain(chain)
            label = "platform" if chain == PLATFORM_CHAIN else f"{names.get(uuid.UUID(chain), '(unknown)')} ({chain})"
            total += result.checked
            if result.ok:
                self.stdout.write(
                    f"OK      {label}: {result.checked} events checked; head #{result.head_sequence} {result.head_hash}"
                )
            else:
                broken.append(result.problem)
                self.stdout.write(f"BROKEN  {label}: {result.checked} events verified; {result.problem}")
        self.stdout.write(f"{total} events checked in total.")
        if broken:
            raise ProblemsFound(
                "Audit chain verification FAILED. First broken event: " + "; ".join(str(p) for p in broken)
            )
