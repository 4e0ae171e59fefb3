"""Assigning and completing clinical reviews; each change is audited in the document's organisation chain.

Callers (the review pages, the review API, the inbox's filing form) fetch the document within
the actor's organisation first; these services check roles and assignees again, so no caller
can assign across organisations.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.reasons import ROLE_REQUIRED
from apps.documents.audit import audit_document
from apps.documents.models import Document
from apps.reviews.errors import ReviewAssigneeInvalid, ReviewNotOpen, ReviewOutcomeIncomplete
from apps.reviews.models import Priority, Review, ReviewOutcome, ReviewState, Team
from quill.errors import NotFound, PermissionDenied, ValidationFailed


def ensure_may_review(*, actor: User, document: Document, attempted: str) -> None:
    """Only clinical roles assign and complete reviews; a refusal is audited against the document."""
    if actor.is_clinical:
        return
    audit_document(
        Action.ACCESS_DENIED,
        document=document,
        actor=actor,
        outcome=Outcome.DENIED,
        details={"reason": ROLE_REQUIRED, "attempted": attempted},
    )
    raise PermissionDenied("Only clinicians, administrators and owners may assign or complete reviews.")


def _ensure_colleague(*, organisation_id: Any, user: User | None) -> User:
    if user is None or user.organisation_id != organisation_id or not user.is_active or not user.is_clinical:
        raise ReviewAssigneeInvalid("Choose a clinician of your own organisation.")
    return user


def _ensure_team(*, organisation_id: Any, team: Team) -> Team:
    if team.organisation_id != organisation_id:
        raise ReviewAssigneeInvalid("Choose one of your organisation's teams.")
    return team


def assign_review(
    document: Document,
    *,
    assignee: User | None = None,
    team: Team | None = None,
    priority: str,
    due_date: date,
    assigned_by: User,
    note: str = "",
) -> Review:
    """Open a review of `document` for one clinician or one team of its organisation."""
    if assigned_by.organisation_id != document.organisation_id:
        raise NotFound("No such document.")
    ensure_may_review(actor=assigned_by, document=document, attempted="review.assign")
    if (assignee is None) == (team is None):
        raise ReviewAssigneeInvalid()
    if assignee is not None:
        _ensure_colleague(organisation_id=document.organisation_id, user=assignee)
    if team is not None:
        _ensure_team(organisation_id=document.organisation_id, team=team)
    if priority not in Priority.values:
        raise ValidationFailed("Choose a priority: " + ", ".join(Priority.values) + ".")
    with transaction.atomic():
        review = Review.objects.create(
            organisation_id=document.organisation_id,
            document=document,
            assignee=assignee,
            team=team,
            priority=priority,
            due_date=due_date,
            note=note,
            assigned_by=assigned_by,
        )
        _audit_assignment(review, actor=assigned_by, action=Action.REVIEW_ASSIGNED)
    return review


def complete_review(
    review: Review,
    *,
    actor: User,
    outcome: str,
    text: str = "",
    forward_to: User | None = None,
    forward_due_date: date | None = None,
) -> Review:
    """Record the outcome of an open review; forwarding also opens a review for the named colleague.

    Completing twice is a conflict: the row is locked and its state checked in the database.
    """
    document = review.document
    ensure_may_review(actor=actor, document=document, attempted="review.complete")
    _ensure_reviewer(review=review, actor=actor)
    text = text.strip()
    if outcome not in ReviewOutcome.values:
        raise ReviewOutcomeIncomplete("Choose an outcome: no action, action needed or forward.")
    if outcome == ReviewOutcome.ACTION_NEEDED and not text:
        raise ReviewOutcomeIncomplete("Say what action is needed.")
    if outcome == ReviewOutcome.FORWARDED:
        if forward_to is None:
            raise ReviewOutcomeIncomplete("Name the colleague to forward the review to.")
        _ensure_colleague(organisation_id=review.organisation_id, user=forward_to)
        if forward_to.pk == actor.pk:
            raise ReviewAssigneeInvalid("Forward the review to someone other than yourself.")
    with transaction.atomic():
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.state != ReviewState.OPEN:
            raise ReviewNotOpen()
        locked.state = ReviewState.COMPLETED
        locked.outcome = outcome
        locked.outcome_text = text
        locked.completed_by = actor
        locked.completed_at = timezone.now()
        locked.save(update_fields=["state", "outcome", "outcome_text", "completed_by", "completed_at"])
        forwarded = None
        if outcome == ReviewOutcome.FORWARDED:
            assert forward_to is not None
            forwarded = Review.objects.create(
                organisation_id=locked.organisation_id,
                document_id=locked.document_id,
                assignee=forward_to,
                priority=locked.priority,
                due_date=forward_due_date or locked.due_date,
                note=text,
                assigned_by=actor,
                forwarded_from=locked,
            )
        audit_document(
            Action.REVIEW_COMPLETED,
            document=document,
            actor=actor,
            details={"review": str(locked.pk), "outcome": outcome, "text": text},
        )
        if forwarded is not None:
            _audit_assignment(forwarded, actor=actor, action=Action.REVIEW_FORWARDED)
    return locked


def _ensure_reviewer(*, review: Review, actor: User) -> None:
    """The assignee, a member of the assigned team, or a manager completes a review; others are refused."""
    if actor.is_manager or review.assignee_id == actor.pk:
        return
    if review.team is not None and review.team.members.filter(pk=actor.pk).exists():
        return
    audit_document(
        Action.ACCESS_DENIED,
        document=review.document,
        actor=actor,
        outcome=Outcome.DENIED,
        details={"reason": ROLE_REQUIRED, "attempted": "review.complete", "review": str(review.pk)},
    )
    raise PermissionDenied("This review is assigned to someone else.")


def _audit_assignment(review: Review, *, actor: User, action: Action) -> None:
    audit_document(
        action,
        document=review.document,
        actor=actor,
        details={
            "review": str(review.pk),
            "assignee": str(review.assignee_id) if review.assignee_id else None,
            "team": review.team_id,
            "priority": review.priority,
            "due_date": review.due_date.isoformat(),
            "forwarded_from": str(review.forwarded_from_id) if review.forwarded_from_id else None,
        },
    )
