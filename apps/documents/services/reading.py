"""Recording that someone read a document (viewed, previewed, downloaded, listed its versions …).

Reads go through selectors, which never write; the audit event of a read is this
service's job, called by the view, API view or response builder that served it.
"""

from __future__ import annotations

from typing import Any

from apps.audit.actions import Action
from apps.audit.models import AuditEvent, Outcome
from apps.documents.audit import audit_document
from apps.documents.models import Document


def document_record_read(
    *, actor: Any, document: Document, action: Action, details: dict[str, Any] | None = None
) -> AuditEvent:
    """One successful-read event about `document` (in its organisation's chain, naming its patient)."""
    return audit_document(action, document=document, actor=actor, outcome=Outcome.SUCCESS, details=details)
