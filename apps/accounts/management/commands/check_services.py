"""Check every service Quill depends on; the same checks back /readyz (quill.checks).

    manage.py check_services [--only NAME ...] [--json]

database; Redis (when configured); storage (write, read, delete a probe object under
`_probe/`); clamd (PING and a scan of the EICAR string) when QUILL_SCANNER=clamd; the FHIR
server (GET metadata) and EHRbase (GET definition/template/adl1.4) when configured.
Exits 1 when any check fails (including FHIR and EHRbase, which /readyz reports but does not
fail on), 2 when --only names an unknown check.
"""

from __future__ import annotations

import json

from django.core.management.base import CommandParser

from quill import checks
from quill.commands import QuillCommand, Unable


class Command(QuillCommand):
    help = "Check the database, Redis, storage, clamd, FHIR and EHRbase; exit 1 if any fails."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--only", action="append", metavar="NAME", help="run only this check (repeatable)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the results as JSON")

    def run(self, *, only: list[str] | None, as_json: bool, **options) -> None:
        unknown = set(only or []) - set(checks.CHECKS)
        if unknown:
            raise Unable(f"Unknown check(s): {', '.join(sorted(unknown))}; known: {', '.join(checks.CHECKS)}.")
        results = checks.run_checks(only)
        skipped = [name for name in checks.CHECKS if (not only or name in only)]
        skipped = [name for name in skipped if name not in {result.name for result in results}]
        failed = [result for result in results if not result.ok]
        if as_json:
            body = {result.name: result.as_dict() for result in results}
            self.stdout.write(json.dumps({"ok": not failed, "checks": body, "skipped": skipped}, indent=2))
        else:
            for result in results:
                status = "OK  " if result.ok else "FAIL"
                self.stdout.write(f"{status} {result.name:<10} {result.detail} ({result.seconds * 1000:.0f} ms)")
            for name in skipped:
                self.stdout.write(f"SKIP {name:<10} not configured")
        self.summary(
            f"{len(results) - len(failed)} of {len(results)} service check(s) passed"
            + (f"; failed: {', '.join(result.name for result in failed)}" if failed else "")
            + (f"; {len(skipped)} not configured" if skipped else "")
            + ".",
            problems=len(failed),
        )
