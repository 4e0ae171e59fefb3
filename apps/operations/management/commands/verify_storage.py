"""Re-hash stored objects against their recorded SHA-256; report missing, mismatched and orphaned objects.

    manage.py verify_storage [--sample N] [--organisation ID] [--dry-run] [--skip-orphans]

A missing or mismatched object marks its document `corrupt` (audited, once) unless
--dry-run. A missing or mismatched searchable PDF/A (OCR's rendition) is reported as a
problem but marks nothing: `reindex_text` makes it again. If the store cannot be
reached, the command stops with exit 2 and marks nothing: an outage is not corruption.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.core.management.base import CommandParser

from apps.accounts.options import organisation_id_option
from apps.documents.services import document_mark_corrupt
from apps.files.errors import StorageUnavailable
from apps.operations import integrity
from quill.commands import QuillCommand, Unable, describe_age

# Younger orphans are most likely uploads still in progress; they are listed but not counted as problems.
ORPHAN_GRACE = timedelta(hours=1)


class Command(QuillCommand):
    help = "Re-hash stored objects against their recorded SHA-256; report missing, mismatched and orphaned objects."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, metavar="N", help="check N documents chosen at random")
        parser.add_argument("--organisation", metavar="ID", help="only this organisation's documents (its UUID)")
        parser.add_argument("--skip-orphans", action="store_true", help="do not list the store looking for orphans")

    def run(self, *, sample: int | None, organisation: str | None, skip_orphans: bool, **options) -> None:
        organisation_id = organisation_id_option(organisation)
        if sample is not None and sample < 1:
            raise Unable("--sample must be a positive number of documents.")
        totals: Counter[str] = Counter()
        try:
            integrity.ensure_reachable()
            self._verify_documents(organisation_id, sample, totals)
            if not skip_orphans:
                self._find_orphans(organisation_id, totals)
        except StorageUnavailable as exc:
            raise Unable(
                f"The document store cannot be reached ({exc.__cause__ or exc}); stopped after checking "
                f"{totals['checked']} document(s). Nothing was marked corrupt because of the outage."
            ) from exc
        renditions = sum(totals[kind] for kind in integrity.RENDITION_PROBLEMS)
        problems = totals["missing"] + totals["mismatch"] + totals["orphan"] + renditions
        self.summary(
            f"Checked {totals['checked']} document(s): {totals['ok']} ok, {totals['missing']} missing, "
            f"{totals['mismatch']} mismatched, {totals['marked']} newly marked corrupt; "
            f"{totals['thumbnail_missing']} thumbnail(s) missing; "
            f"{renditions} searchable PDF/A rendition(s) missing or mismatched"
            + (" (make them again with reindex_text)" if renditions else "")
            + "; "
            f"{totals['orphan']} orphaned object(s) ({totals['orphan_bytes']} bytes)"
            + (f", {totals['recent_orphan']} recent (may be uploads in progress)" if totals["recent_orphan"] else "")
            + ("; orphans not checked" if skip_orphans else "")
            + ".",
            problems=problems,
        )

    def _verify_documents(self, organisation_id: str | None, sample: int | None, totals: Counter) -> None:
        documents = integrity.documents_to_verify(organisation_id=organisation_id, sample=sample)
        total = documents.count()
        for document in self.track(documents.iterator(chunk_size=200), total=total, description="Verifying"):
            totals["checked"] += 1
            findings = integrity.check_document(document)
            if not any(finding.is_corruption for finding in findings):
                totals["ok"] += 1
            for finding in findings:
                totals[finding.kind] += 1
                self.stdout.write(
                    f"{finding.kind.upper():<18} document {finding.document_id} {finding.key}: {finding.detail}"
                )
                if finding.is_corruption and not self.dry_run:
                    reason = f"verify_storage: {finding.kind}: {finding.detail}"
                    totals["marked"] += document_mark_corrupt(document_id=document.pk, reason=reason)

    def _find_orphans(self, organisation_id: str | None, totals: Counter) -> None:
        now = integrity.now_epoch()
        prefix = f"{organisation_id}/" if organisation_id else ""
        for orphan in self.track(integrity.find_orphans(prefix=prefix), description="Listing orphans"):
            age = orphan.age(now)
            if age < ORPHAN_GRACE:
                totals["recent_orphan"] += 1
                self.say(f"{'RECENT ORPHAN':<18} {orphan.key} ({orphan.size} bytes, {describe_age(age)} old)", level=2)
                continue
            totals["orphan"] += 1
            totals["orphan_bytes"] += orphan.size
            self.stdout.write(f"{'ORPHAN':<18} {orphan.key} ({orphan.size} bytes, {describe_age(age)} old)")
