"""Creating documents for tests: through the real upload service, or as bare rows; and their audit history."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.hashing import event_hash
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import chain_key
from apps.documents.models import Document, ScanStatus
from apps.documents.services import UploadRequest, document_upload
from apps.files.spooling import spool


def stored_document(
    *, user, patient, data: bytes, filename: str = "report.pdf", category: str = "lab", clean: bool = True, **fields
) -> Document:
    spooled = spool([data], max_bytes=len(data) + 1)
    item = UploadRequest(spooled=spooled, filename=filename, category=category, **fields)
    document = document_upload(actor=user, patient=patient, item=item)
    if clean:
        Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.CLEAN)
        document.refresh_from_db()
    return document


def document_row(
    patient,
    user,
    *,
    category: str = "lab",
    title: str = "Report",
    document_date: date = date(2024, 3, 5),
    scan_status: str = ScanStatus.CLEAN,
    uploaded_at=None,
    **fields,
) -> Document:
    """A document row created directly, with no bytes behind it (lists, searches, query plans)."""
    document_id = uuid.uuid4()
    return Document.objects.create(
        id=document_id,
        organisation_id=patient.organisation_id,
        patient=patient,
        title=title,
        category=category,
        document_date=document_date,
        original_filename="report.pdf",
        content_type="application/pdf",
        size=1234,
        sha256="0" * 64,
        sha1="a" * 40,
        storage_key=f"test/{document_id}.pdf",
        uploaded_by=user,
        uploaded_at=uploaded_at or timezone.now(),
        lineage_id=fields.pop("lineage_id", document_id),
        scan_status=scan_status,
        **fields,
    )


def append_events(document, events: list[tuple[Action, object, str]]) -> None:
    """Append (action, actor, outcome) events about `document` to its organisation's chain, oldest first.

    Linked and hashed as `audit_record` links them, then `bulk_create`d in batches: a long history
    in well under a second, and the chain still verifies."""
    chain = chain_key(document.organisation_id)
    head = ChainHead.objects.get(chain=chain)  # the upload's event made it
    sequence, previous = head.sequence, head.hash
    start = timezone.now()
    rows = []
    for number, (action, actor, outcome) in enumerate(events):
        sequence += 1
        fields = {
            "chain": chain,
            "sequence": sequence,
            "occurred_at": start + timedelta(milliseconds=number),
            "organisation_id": str(document.organisation_id),
            "actor_id": getattr(actor, "pk", None),
            "actor_username": getattr(actor, "email", ""),
            "patient_id": str(document.patient_id),
            "action": action.value,
            "object_type": "document",
            "object_id": str(document.pk),
            "outcome": outcome,
            "ip": "",
            "user_agent": "",
            "request_id": "",
            "details": {},
        }
        digest = event_hash(previous, fields)
        rows.append(AuditEvent(prev_hash=previous, hash=digest, **fields))
        previous = digest
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
    ChainHead.objects.filter(chain=chain).update(sequence=sequence, hash=previous)
