"""Recording virus-scan results and integrity failures."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.documents.audit import audit_document
from apps.documents.models import Document, Integrity, ScanStatus
from apps.outbox.models import Target
from apps.outbox.services import outbox_enqueue

# What a scan needs of the row: the object to read and the audit chain to record in.
SCAN_FIELDS = ("organisation_id", "patient_id", "storage_key", "scan_status")


def document_begin_scan(*, document_id: uuid.UUID | str) -> Document | None:
    """Count a scan attempt on a pending document and return what the scan needs.

    The count is committed before the scan starts, so a worker killed mid-scan is
    counted too. None when the document is gone or no longer pending.
    """
    counted = Document.objects.filter(pk=document_id, scan_status=ScanStatus.PENDING).update(
        scan_attempts=F("scan_attempts") + 1
    )
    if not counted:
        return None
    return Document.objects.only(*SCAN_FIELDS).filter(pk=document_id).first()


def document_record_scan(*, document: Document, clean: bool, signature: str = "") -> Document | None:
    """Move a pending document to clean or infected, once. Returns None when it was not pending.

    One conditional UPDATE decides (and locks the row until commit), so two workers
    scanning the same document record one verdict and one audit event between them.
    """
    now = timezone.now()
    status = ScanStatus.CLEAN if clean else ScanStatus.INFECTED
    signature = "" if clean else signature[:200]
    with transaction.atomic():
        moved = Document.objects.filter(pk=document.pk, scan_status=ScanStatus.PENDING).update(
            scan_status=status, scan_signature=signature, scanned_at=now, updated_at=now
        )
        if not moved:
            return None
        document.scan_status, document.scan_signature, document.scanned_at = status, signature, now
        audit_document(
            Action.DOCUMENT_SCANNED if clean else Action.DOCUMENT_QUARANTINED,
            document=document,
            actor=None,
            actor_username="system:scanner",
            outcome=Outcome.SUCCESS if clean else Outcome.DENIED,
            details={"result": status, "signature": signature},
        )
        if clean:
            document_announce(document=document)
    return document


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
            Action.DOCUMENT_INTEGRITY_FAILED,
            document=document,
            actor=actor,
            actor_username="" if actor else "system:integrity",
            outcome=Outcome.ERROR,
            details={"reason": reason, "expected_sha256": document.sha256},
        )
    return True
