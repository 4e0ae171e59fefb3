"""Scanning documents again: re-queue pending and failed scans, re-check available documents in place.

A document that is available stays available while it is re-checked: only a FOUND
verdict changes it (to `infected`, quarantined and audited). A clamd outage or a
missing object changes nothing.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record
from apps.documents.audit import audit_document
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document, ScanStatus
from apps.documents.services.scanning import document_announce
from apps.files.scanner import ScanResult, scan_object


def documents_with_scan_status(*, statuses: list[str], organisation_id: str | None = None) -> QuerySet[Document]:
    documents = Document.objects.filter(scan_status__in=statuses, purged_at__isnull=True)
    if organisation_id:
        documents = documents.filter(organisation_id=organisation_id)
    return documents.order_by("uploaded_at", "pk")


def document_retry_failed_scan(*, document_id: uuid.UUID | str) -> bool:
    """Move a document whose scan failed (`error`) back to `pending`, audited. True if it moved."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id, scan_status=ScanStatus.ERROR).first()
        if document is None:
            return False
        document.scan_status = ScanStatus.PENDING
        document.save(update_fields=["scan_status", "updated_at"])
        audit_document(
            Action.DOCUMENT_RESCAN_REQUESTED,
            document=document,
            actor=None,
            actor_username="system:rescan",
            details={"previous": ScanStatus.ERROR.value},
        )
    return True


def document_rescan_in_place(*, document_id: uuid.UUID | str, quarantine: bool = True) -> ScanResult | None:
    """Scan an available document again; quarantine it only on a FOUND verdict.

    With quarantine=False (a dry run) nothing is changed. Returns the verdict, or None
    when the document is no longer available. Raises FileNotFoundError (object missing),
    ScannerUnavailable or StorageUnavailable, none of which changes the document.
    """
    document = Document.objects.filter(pk=document_id, scan_status__in=AVAILABLE_SCAN_STATUSES).first()
    if document is None:
        return None
    result = scan_object(document.storage_key)
    if not quarantine:
        return result
    if result.clean:
        Document.objects.filter(pk=document_id, scan_status=document.scan_status).update(scanned_at=timezone.now())
        return result
    _quarantine(document_id=document_id, signature=result.signature)
    return result


def _quarantine(*, document_id: uuid.UUID | str, signature: str) -> None:
    with transaction.atomic():
        document = (
            Document.objects.select_for_update().filter(pk=document_id, scan_status__in=AVAILABLE_SCAN_STATUSES).first()
        )
        if document is None:
            return
        previous = document.scan_status
        document.scan_status = ScanStatus.INFECTED
        document.scan_signature = signature[:200]
        document.scanned_at = timezone.now()
        document.save(update_fields=["scan_status", "scan_signature", "scanned_at", "updated_at"])
        audit_record(
            action=Action.DOCUMENT_QUARANTINED,
            actor=None,
            actor_username="system:rescan",
            organisation_id=document.organisation_id,
            patient_id=document.patient_id,
            object_type="document",
            object_id=document.pk,
            outcome=Outcome.DENIED,
            details={
                "result": ScanStatus.INFECTED.value,
                "signature": document.scan_signature,
                "rescan": True,
                "previous": previous,
            },
        )
        # It was announced as available; announce again so the FHIR server learns it is gone.
        document_announce(document=document)
