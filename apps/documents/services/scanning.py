"""Recording virus-scan results and integrity failures."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.models import Outcome
from apps.documents.audit import audit_document
from apps.documents.models import Document, Integrity, ScanStatus
from apps.outbox.models import Target
from apps.outbox.services import outbox_enqueue


def document_record_scan(*, document_id: uuid.UUID | str, clean: bool, signature: str = "") -> Document | None:
    """Move a pending document to clean or infected, once. Returns None when it was not pending."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id, scan_status=ScanStatus.PENDING).first()
        if document is None:
            return None
        document.scan_status = ScanStatus.CLEAN if clean else ScanStatus.INFECTED
        document.scan_signature = "" if clean else signature[:200]
        document.scanned_at = timezone.now()
        document.save(update_fields=["scan_status", "scan_signature", "scanned_at", "updated_at"])
        audit_document(
            "document.scanned" if clean else "document.quarantined",
            document=document,
            actor=None,
            actor_username="system:scanner",
            outcome=Outcome.SUCCESS if clean else Outcome.DENIED,
            details={"result": document.scan_status, "signature": document.scan_signature},
        )
        if clean:
            document_announce(document=document)
    return document


def document_record_scan_attempt(*, document_id: uuid.UUID | str) -> None:
    Document.objects.filter(pk=document_id).update(scan_attempts=F("scan_attempts") + 1)


def document_announce(*, document: Document) -> None:
    """Queue the FHIR sync of this document (in the caller's transaction), when FHIR is configured."""
    if outbox_enqueue(
        target=Target.FHIR,
        kind="document_reference",
        object_id=str(document.pk),
        organisation_id=document.organisation_id,
    ):
        Document.objects.filter(pk=document.pk).update(fhir_sync_state="pending")


def document_mark_corrupt(*, document_id: uuid.UUID | str, reason: str, actor=None) -> bool:
    """Mark a document whose stored bytes no longer match; audited once. Returns True if newly marked."""
    with transaction.atomic():
        updated = Document.objects.filter(pk=document_id, integrity=Integrity.OK).update(
            integrity=Integrity.CORRUPT, integrity_checked_at=timezone.now()
        )
        if not updated:
            return False
        document = Document.objects.get(pk=document_id)
        audit_document(
            "document.integrity_failed",
            document=document,
            actor=actor,
            actor_username="" if actor else "system:integrity",
            outcome=Outcome.ERROR,
            details={"reason": reason, "expected_sha256": document.sha256},
        )
    return True
