"""Scan documents again.

    manage.py rescan_documents [--status pending|error|all] [--organisation ID] [--dry-run]

* ``pending`` (default): queue a scan for every document still waiting (a lost queue message);
* ``error``: move documents whose scan failed back to ``pending`` (audited) and queue them;
* ``all``: both of the above, and re-check every available (clean or not-scanned) document
  in place against clamd's current signatures, here and now (with --dry-run they are still
  scanned, but nothing is quarantined). Available documents stay
  available while they are re-checked; only a FOUND verdict quarantines one (audited,
  exit 1). Quarantined documents are left alone.
"""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.core.management.base import CommandParser

from apps.accounts.options import organisation_id_option
from apps.documents.models import AVAILABLE_SCAN_STATUSES, ScanStatus
from apps.documents.services.rescanning import (
    document_rescan_in_place,
    document_retry_failed_scan,
    documents_with_scan_status,
)
from apps.documents.tasks import scan_document
from apps.files.errors import ScannerUnavailable, StorageUnavailable
from apps.files.scanner import ping
from quill.commands import QuillCommand, Unable
from quill.queue import enqueue


class Command(QuillCommand):
    help = "Queue scans for pending (or failed) documents; with --status all, re-check available ones in place."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", choices=["pending", "error", "all"], default="pending")
        parser.add_argument("--organisation", metavar="ID", help="only this organisation's documents (its UUID)")

    def run(self, *, status: str, organisation: str | None, **options) -> None:
        if settings.QUILL_SCANNER != "clamd":
            raise Unable("The virus scanner is off (QUILL_SCANNER=none); there is nothing to scan with.")
        organisation_id = organisation_id_option(organisation)
        totals: Counter[str] = Counter()
        if status in ("pending", "all"):
            self._queue_pending(organisation_id, totals)
        if status in ("error", "all"):
            self._retry_failed(organisation_id, totals)
        if status == "all":
            self._rescan_available(organisation_id, totals)
        verb = "Would queue" if self.dry_run else "Queued"
        text = f"{verb} {totals['queued']} pending scan(s); {totals['retried']} failed scan(s) moved back to pending"
        if status == "all":
            text += (
                f"; re-checked {totals['checked']} available document(s): {totals['clean']} clean, "
                f"{totals['found']} quarantined, {totals['missing']} with a missing object"
            )
        if totals["not_queued"]:
            text += f"; {totals['not_queued']} could not be queued (broker down; the sweep will queue them)"
        self.summary(text + ".", problems=totals["found"] + totals["missing"])

    def _queue_pending(self, organisation_id: str | None, totals: Counter) -> None:
        documents = documents_with_scan_status(statuses=[ScanStatus.PENDING], organisation_id=organisation_id)
        ids = documents.values_list("pk", flat=True)
        for pk in self.track(ids.iterator(), total=ids.count(), description="Queueing pending scans"):
            totals["queued"] += 1
            if not self.dry_run and not enqueue(scan_document, str(pk)):
                totals["not_queued"] += 1

    def _retry_failed(self, organisation_id: str | None, totals: Counter) -> None:
        documents = documents_with_scan_status(statuses=[ScanStatus.ERROR], organisation_id=organisation_id)
        ids = list(documents.values_list("pk", flat=True))
        for pk in self.track(ids, description="Retrying failed scans"):
            if self.dry_run:
                totals["retried"] += 1
                continue
            if document_retry_failed_scan(document_id=pk):
                totals["retried"] += 1
                if not enqueue(scan_document, str(pk)):
                    totals["not_queued"] += 1

    def _rescan_available(self, organisation_id: str | None, totals: Counter) -> None:
        try:
            ping()
        except ScannerUnavailable as exc:
            raise Unable(f"{exc}; no document was re-checked or changed.") from exc
        documents = documents_with_scan_status(statuses=list(AVAILABLE_SCAN_STATUSES), organisation_id=organisation_id)
        ids = documents.values_list("pk", flat=True)
        for pk in self.track(ids.iterator(), total=ids.count(), description="Re-checking available documents"):
            try:
                result = document_rescan_in_place(document_id=pk, quarantine=not self.dry_run)
            except FileNotFoundError:
                totals["checked"] += 1
                totals["missing"] += 1
                self.stdout.write(f"MISSING     document {pk}: its stored object does not exist (run verify_storage)")
                continue
            except (ScannerUnavailable, StorageUnavailable) as exc:
                raise Unable(
                    f"Stopped after re-checking {totals['checked']} document(s): {exc}. "
                    "Documents not yet re-checked are unchanged."
                ) from exc
            if result is None:
                continue
            totals["checked"] += 1
            if result.clean:
                totals["clean"] += 1
            else:
                totals["found"] += 1
                verb = "WOULD QUARANTINE" if self.dry_run else "QUARANTINED"
                self.stdout.write(f"{verb} document {pk}: {result.signature} found")
