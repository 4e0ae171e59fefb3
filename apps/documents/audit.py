"""Recording audit events about one document (a thin layer over apps.audit.services)."""

from __future__ import annotations

from typing import Any

from apps.audit.actions import Action
from apps.audit.models import AuditEvent, Outcome
from apps.audit.services import audit_record
from apps.documents.models import Document


def audit_document(
    action: Action,
    *,
    document: Document,
    actor: Any = None,
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """One event about `document`, in its organisation's chain, naming its patient."""
    return audit_record(
        action=action,
        actor=actor,
        actor_username=actor_username,
        organisation_id=document.organisation_id,
        patient_id=document.patient_id,
        object_type="document",
        object_id=document.pk,
        outcome=outcome,
        details=details,
    )
