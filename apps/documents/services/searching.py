"""Recording a search of documents' text in the audit trail: the words asked, the scope, the count.

Never the text of a document, nor which documents matched (opening one is audited when it happens).
"""

from __future__ import annotations

from typing import Any

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.search.query import SearchScope


def document_search_record(*, actor: Any, q: str, scope: SearchScope, results: int, via: str) -> None:
    """One `document.searched` event; `via` is where the search came from (portal, api, fhir)."""
    audit_record(
        action=Action.DOCUMENT_SEARCHED,
        actor=actor,
        patient_id=scope.patient_id,
        object_type="document",
        details={"query": q, "scope": scope.as_audit(), "results": results, "via": via},
    )
