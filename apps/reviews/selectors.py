"""Reading reviews: what waits for a user, what is overdue in an organisation, a document's reviews."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.reviews.models import Review, ReviewState, Team


def reviews_waiting_for(user: User) -> QuerySet[Review]:
    """Open reviews assigned to `user` or to a team they belong to; overdue first, then by due date.

    Ordering by due date ascending puts every overdue review (due before today) first; the
    partial indexes on (assignee | team, due_date, assigned_at) serve it without a sort.
    """
    organisation_id = user.organisation_id
    if organisation_id is None:
        return Review.objects.none()
    # The team ids as a list, not a subquery: then the planner combines the two partial indexes
    # (assignee, team) with a BitmapOr instead of walking every open review by due date.
    teams = list(Team.objects.filter(organisation_id=organisation_id, members=user).values_list("pk", flat=True))
    return (
        Review.objects.filter(organisation_id=organisation_id, state=ReviewState.OPEN)
        .filter(Q(assignee=user) | Q(team__in=teams))
        .select_related("document", "document__patient", "team", "assignee", "assigned_by")
        .order_by("due_date", "assigned_at", "id")
    )


def overdue_reviews(*, organisation_id: uuid.UUID | str) -> QuerySet[Review]:
    """Open reviews of one organisation whose due date has passed, the oldest due first."""
    return (
        Review.objects.filter(
            organisation_id=organisation_id, state=ReviewState.OPEN, due_date__lt=timezone.localdate()
        )
        .select_related("document", "document__patient", "team", "assignee", "assigned_by")
        .order_by("due_date", "assigned_at", "id")
    )


def document_reviews(document_id: uuid.UUID | str) -> QuerySet[Review]:
    """Every review of one document, newest first (open and completed)."""
    return (
        Review.objects.filter(document_id=document_id)
        .select_related("assignee", "team", "completed_by", "assigned_by")
        .order_by("-assigned_at")
    )


def review_in_organisation(*, review_id: uuid.UUID | str, organisation_id: uuid.UUID | str) -> Review | None:
    """One review, only if it belongs to the organisation (another organisation's is "not found")."""
    return (
        Review.objects.filter(pk=review_id, organisation_id=organisation_id)
        .select_related("document", "document__patient", "team", "assignee")
        .first()
    )


def documents_awaiting_review(
    *, patient_id: uuid.UUID | str, categories: frozenset[str] | None = None
) -> set[uuid.UUID]:
    """Ids of one patient's documents with an open review: one query, whatever the page shows.

    `categories` limits it to what the reader may see (billing: insurance only), so the count
    on the patient page tells no one of documents they cannot open.
    """
    reviews = Review.objects.filter(document__patient_id=patient_id, state=ReviewState.OPEN)
    if categories is not None:
        reviews = reviews.filter(document__category__in=categories)
    return set(reviews.order_by().values_list("document_id", flat=True).distinct())


def team_names(ids: list[int]) -> dict[int, str]:
    """Teams' names by id (the access report names the team a review was assigned to)."""
    return dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
