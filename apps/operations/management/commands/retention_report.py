"""What retention makes due, per organisation; --recompute sets every document's `retain_until` first.

    manage.py retention_report [--organisation ID] [--recompute [--dry-run]] [--list]

Due means the retention period has ended (retain_until before today). Only due documents
that are soft-deleted and not under a legal hold (or covered by an accepted erasure
request) are purged by `purge_expired --confirm`; the others are listed so someone can
decide. Exits 1 when documents have no retain_until yet (run --recompute).
"""

from __future__ import annotations

from collections import Counter

from django.core.management.base import CommandParser
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.accounts.options import organisation_id_option
from apps.documents.models import Document
from apps.documents.services.retention import (
    documents_due,
    documents_to_purge,
    patient_retention_recompute,
    patients_with_documents,
)
from quill.commands import QuillCommand


class Command(QuillCommand):
    help = "Report documents whose retention has ended, per organisation; --recompute sets retain_until first."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", metavar="ID", help="only this organisation (its UUID)")
        parser.add_argument("--recompute", action="store_true", help="recompute retain_until for every document")
        parser.add_argument("--list", action="store_true", help="list every due document")

    def run(self, *, organisation: str | None, recompute: bool, list: bool, **options) -> None:
        organisation_id = organisation_id_option(organisation)
        today = timezone.localdate()
        if recompute:
            self._recompute(organisation_id)
        elif self.dry_run:
            self.say("--dry-run only applies to --recompute; the report changes nothing.")
        purgeable = set(documents_to_purge(organisation_id=organisation_id, today=today).values_list("pk", flat=True))
        due = documents_due(organisation_id=organisation_id, today=today)
        names = dict(Organisation.objects.values_list("pk", "name"))
        rows = (
            due.values("organisation_id")
            .annotate(
                due=Count("pk"),
                held=Count("pk", filter=Q(legal_hold=True)),
                active=Count("pk", filter=Q(deleted_at__isnull=True, legal_hold=False)),
            )
            .order_by("organisation_id")
        )
        purge_counts = Counter(
            Document.objects.filter(pk__in=purgeable).values_list("organisation_id", flat=True).iterator()
        )
        self.stdout.write(f"Retention report for {today.isoformat()} (due = retention ended before today)")
        self.stdout.write(
            f"{'organisation':<30} {'id':<36} {'due':>7} {'purgeable':>10} {'held':>6} {'not deleted':>12}"
        )
        totals: Counter[str] = Counter()
        for row in rows:
            name = names.get(row["organisation_id"], "?")[:30]
            purge = purge_counts[row["organisation_id"]]
            self.stdout.write(
                f"{name:<30} {row['organisation_id']!s:<36} {row['due']:>7} {purge:>10} {row['held']:>6} "
                f"{row['active']:>12}"
            )
            totals.update({"due": row["due"], "held": row["held"], "active": row["active"], "purgeable": purge})
        if list:
            for document in due.order_by("organisation_id", "retain_until", "pk").iterator():
                state = (
                    "purgeable"
                    if document.pk in purgeable
                    else "legal hold"
                    if document.legal_hold
                    else "not deleted"
                    if document.deleted_at is None
                    else "kept"
                )
                self.stdout.write(
                    f"  {document.pk}  patient {document.patient_id}  {document.category:<13} "
                    f"retain until {document.retain_until}  {state}"
                )
        missing = Document.objects.filter(retain_until__isnull=True, purged_at__isnull=True)
        if organisation_id:
            missing = missing.filter(organisation_id=organisation_id)
        unset = missing.count()
        self.summary(
            f"{totals['due']} document(s) due: {totals['purgeable']} purgeable by purge_expired --confirm, "
            f"{totals['held']} under a legal hold, {totals['active']} not deleted (a person must decide); "
            f"{unset} without retain_until" + (" (run retention_report --recompute)" if unset else "") + ".",
            problems=0 if recompute and self.dry_run else unset,
        )

    def _recompute(self, organisation_id: str | None) -> None:
        patients = patients_with_documents(organisation_id=organisation_id)
        changed = 0
        ids = patients.values_list("pk", flat=True)
        for patient_id in self.track(ids.iterator(), total=ids.count(), description="Recomputing retention"):
            changed += patient_retention_recompute(patient_id=patient_id, dry_run=self.dry_run)
        self.stdout.write(f"{'Would change' if self.dry_run else 'Changed'} retain_until on {changed} document(s).")
