"""Creating stored documents for tests through the real upload service."""

from __future__ import annotations

from apps.documents.intake import spool
from apps.documents.models import Document, ScanStatus
from apps.documents.services import UploadRequest, document_upload


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
