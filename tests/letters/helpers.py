"""Small helpers shared by the Django-backed letters tests."""

from __future__ import annotations

import io

import pypdf

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.files import storage


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("sequence"))


def denials(**filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.denied", outcome="denied", **filters))


def pdf_text_of(document: Document) -> str:
    """The stored PDF, read back from storage through its document row, as text."""
    with storage.open_reader(document.storage_key) as reader:
        data = reader.read()
    assert data.startswith(b"%PDF-")
    pdf = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in pdf.pages)


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()]
