"""Queue documents for FHIR sync again: one document, the failed ones, or all of them.

    manage.py resync_fhir --document <uuid> [--dry-run]
    manage.py resync_fhir --failed [--dry-run]
    manage.py resync_fhir --all [--dry-run]   # e.g. after pointing Quill at a new FHIR server

Everything goes through the outbox services; the Celery relay does the sending.
Exit 2 (nothing queued) when FHIR sync is off or the document cannot be sent.
"""

from __future__ import annotations

import uuid

from django.core.management.base import CommandParser

from apps.documents.models import Document
from apps.fhir.sync import (
    dead_patient_messages,
    document_fhir_resync,
    documents_to_resync,
    patient_messages_resync,
)
from apps.outbox.services import fhir_enabled
from quill.commands import QuillCommand, Unable


class Command(QuillCommand):
    help = "Re-queue documents (and dead Patient messages) for sync to the FHIR server."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--document", metavar="ID", help="one document (its UUID)")
        which.add_argument("--failed", action="store_true", help="documents whose sync failed or was dead-lettered")
        which.add_argument("--all", action="store_true", help="every clean document")

    def run(self, *, document: str | None, failed: bool, **options) -> None:
        if not fhir_enabled():
            raise Unable("FHIR sync is off: set QUILL_FHIR_BASE_URL first.")
        if document is not None:
            documents = documents_to_resync(document_id=_document_id(document))
            if not documents.exists():
                raise Unable(f"Document {document} is not one Quill can send (not clean, or purged).")
        else:
            documents = documents_to_resync(failed=failed)
        patients = dead_patient_messages() if failed else None

        document_count = 0
        for row in self.track(list(documents), description="documents"):
            document_count += 1
            self.say(
                f"{'would queue' if self.dry_run else 'queued'} document {row.pk} ({row.fhir_sync_state})", level=2
            )
            if not self.dry_run:
                document_fhir_resync(document=row)
        patient_count = patients.count() if patients is not None else 0
        if patients is not None and patient_count and not self.dry_run:
            patient_messages_resync(messages=patients)

        verb = "Would re-queue" if self.dry_run else "Re-queued"
        self.summary(f"{verb} {document_count} document(s) and {patient_count} patient(s) for FHIR sync.")


def _document_id(value: str) -> uuid.UUID:
    try:
        document_id = uuid.UUID(value)
    except ValueError:
        raise Unable(f"{value!r} is not a document id (a UUID).") from None
    if not Document.objects.filter(pk=document_id).exists():
        raise Unable(f"No document {document_id}.")
    return document_id
