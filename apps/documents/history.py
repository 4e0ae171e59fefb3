"""Reading a document's history: its versions' audit events (selectors only)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent
from apps.documents.models import Document

HISTORY_LIMIT = 100


def document_audit_events(*, document: Document, version_ids: list, limit: int = HISTORY_LIMIT) -> QuerySet:
    """Events about any version of this document or its annotations, newest first (own organisation only)."""
    ids = [str(pk) for pk in version_ids]
    return AuditEvent.objects.filter(
        Q(object_type="document", object_id__in=ids) | Q(object_type="annotation", details__document_id__in=ids),
        organisation_id=document.organisation_id,
    ).order_by("-occurred_at", "-sequence")[:limit]
