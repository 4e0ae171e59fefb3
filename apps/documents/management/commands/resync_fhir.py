"""Queue documents for FHIR sync again: one document, the failed ones, or all of them.

    manage.py resync_fhir --document <uuid>
    manage.py resync_fhir --failed [--dry-run]
    manage.py resync_fhir --all            # e.g. after pointing Quill at a new FHIR server

Everything goes through the outbox services; the Celery relay does the sending.
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.documents.fhir.sync import (
    dead_patient_messages,
    document_fhir_resync,
    documents_to_resync,
    patient_messages_resync,
)
from apps.documents.models import Document
from apps.outbox.services import fhir_enabled


class Command(BaseCommand):
    help = "Re-queue documents (and dead Patient messages) for sync to the FHIR server."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--document", metavar="ID", help="one document (its UUID)")
        which.add_argument("--failed", action="store_true", help="documents whose sync failed or was dead-lettered")
        which.add_argument("--all", action="store_true", help="every clean document")
        parser.add_argument("--dry-run", action="store_true", help="say what would be queued; change nothing")

    def handle(self, *args, document: str | None, failed: bool, all: bool, dry_run: bool, **options) -> None:
        if not fhir_enabled():
            raise CommandError("FHIR sync is off: set QUILL_FHIR_BASE_URL first.")
        if document is not None:
            documents = documents_to_resync(document_id=_document_id(document))
        else:
            documents = documents_to_resync(failed=failed)
        patients = dead_patient_messages() if failed else None

        verbosity = options.get("verbosity", 1)
        document_count = 0
        for row in documents.iterator():
            document_count += 1
            if verbosity >= 2:
                self.stdout.write(f"{'would queue' if dry_run else 'queued'} document {row.pk} ({row.fhir_sync_state})")
            if not dry_run:
                document_fhir_resync(document=row)
        patient_count = patients.count() if patients is not None else 0
        if patient_count and not dry_run:
            patient_messages_resync(messages=patients)

        verb = "Would re-queue" if dry_run else "Re-queued"
        summary = f"{verb} {document_count} document(s) and {patient_count} patient(s) for FHIR sync."
        if document is not None and document_count == 0:
            raise CommandError(f"Document {document} is not one Quill can send (unknown, not clean, or purged).")
        self.stdout.write(self.style.SUCCESS(summary) if document_count or patient_count else summary)


def _document_id(value: str) -> uuid.UUID:
    try:
        document_id = uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a document id (a UUID).") from None
    if not Document.objects.filter(pk=document_id).exists():
        raise CommandError(f"No document {document_id}.")
    return document_id
