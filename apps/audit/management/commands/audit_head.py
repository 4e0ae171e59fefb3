"""Print each chain's latest sequence number and hash, to copy to an external write-once record.

A database superuser could rewrite a whole chain consistently; a head copied
elsewhere earlier lets `verify_audit` output be compared against it.
"""

from __future__ import annotations

import json
import uuid

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.audit.models import PLATFORM_CHAIN, ChainHead
from apps.audit.organisations import organisation_names
from quill.commands import QuillCommand


class Command(QuillCommand):
    help = "Print every organisation's (and the platform's) latest audit sequence number and hash."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON document.")

    def run(self, *, as_json: bool = False, **options) -> None:
        names = organisation_names()
        heads = sorted(ChainHead.objects.all(), key=lambda head: (head.chain == PLATFORM_CHAIN, head.chain))
        taken_at = timezone.now().isoformat()
        rows = [
            {
                "chain": head.chain,
                "organisation": "platform" if head.chain == PLATFORM_CHAIN else names.get(uuid.UUID(head.chain), ""),
                "sequence": head.sequence,
                "hash": head.hash,
            }
            for head in heads
        ]
        if as_json:
            self.stdout.write(json.dumps({"taken_at": taken_at, "chains": rows}, indent=2))
            return
        self.stdout.write(f"Audit chain heads at {taken_at}")
        for row in rows:
            self.stdout.write(f"{row['chain']}\t#{row['sequence']}\t{row['hash']}\t{row['organisation']}")
