"""Who may do what with documents (domain rules; selectors and services call these)."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.reasons import ROLE_REQUIRED
from apps.audit.services import audit_denied
from apps.documents.audit import audit_document
from apps.documents.errors import LetterDocumentLocked
from apps.documents.models import Annotation, Category, Document
from quill.errors import PermissionDenied

BILLING_CATEGORIES = frozenset({Category.INSURANCE})


def allowed_categories(user: User) -> frozenset[str] | None:
    """The categories `user` may see and file; None means all of them."""
    if user.is_clinical:
        return None
    if user.has_role("billing"):
        return BILLING_CATEGORIES
    return frozenset()


def ensure_document_role(*, user: User) -> frozenset[str] | None:
    """The categories `user` may work with; a role with none is refused, and the refusal audited."""
    allowed = allowed_categories(user)
    if allowed == frozenset():
        audit_denied(action=Action.ACCESS_DENIED, actor=user, reason=ROLE_REQUIRED, object_type="document")
        raise PermissionDenied("Your role does not allow working with documents.")
    return allowed


def ensure_may_file_category(
    *, user: User, category: str, attempted: str, document: Document | None = None, patient_id: Any = None
) -> None:
    """Refuse, and audit, filing a document under a category the role may not use (billing: insurance only).

    Call it outside the change's transaction, so the denial's event commits.
    """
    allowed = allowed_categories(user)
    if allowed is None or category in allowed:
        return
    _audit_role_refusal(
        user=user, attempted=attempted, document=document, patient_id=patient_id, details={"category": category}
    )
    if allowed:
        raise PermissionDenied("Billing staff may upload and change only insurance documents.")
    raise PermissionDenied("Your role does not allow working with documents.")


def ensure_manager(*, user: User, doing: str, attempted: str, document: Document | None = None) -> None:
    """Refuse, and audit, what only administrators and owners may do (delete, restore, legal hold, …)."""
    if user.is_manager:
        return
    _audit_role_refusal(user=user, attempted=attempted, document=document)
    raise PermissionDenied(f"Only administrators and owners may {doing}.")


def _audit_role_refusal(
    *,
    user: User,
    attempted: str,
    document: Document | None,
    patient_id: Any = None,
    details: dict[str, Any] | None = None,
) -> None:
    details = {"reason": ROLE_REQUIRED, "attempted": attempted, **(details or {})}
    if document is not None:
        audit_document(Action.ACCESS_DENIED, document=document, actor=user, outcome=Outcome.DENIED, details=details)
        return
    reason = details.pop("reason")
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=user,
        reason=reason,
        patient_id=patient_id,
        object_type="patient" if patient_id else "document",
        object_id=patient_id or "",
        details=details,
    )


def may_delete_annotation(user: User, annotation: Annotation) -> bool:
    """Its author, or an administrator or owner."""
    return annotation.author_id == user.pk or user.is_manager


def ensure_not_sealed(*, actor: Any, document: Document, attempted: str) -> None:
    """Refuse, and audit, any change to a final letter's PDF made other than by amending the letter.

    ``sealed`` is set when the row is inserted and never changes, so checking the caller's
    copy is safe outside the change's transaction, which lets the denial's audit event commit.
    """
    if not document.sealed:
        return
    audit_document(
        Action.ACCESS_DENIED,
        document=document,
        actor=actor,
        outcome=Outcome.DENIED,
        details={"reason": LetterDocumentLocked.error_code, "attempted": attempted},
    )
    raise LetterDocumentLocked(document_id=str(document.pk))
