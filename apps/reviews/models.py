"""Clinical review: a filed document assigned to a clinician or a team, completed with an outcome.

A review row carries its current state only; its history (every assignment, completion and
forward) is the organisation's audit chain, which is append-only.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.documents.models import Document


class Team(models.Model):
    """A named group of users of one organisation to whom a review can be assigned (e.g. "Duty doctors")."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="review_teams")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_teams", blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("organisation", "name"), name="review_team_name_unique")]

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    ROUTINE = "routine", "Routine"
    SOON = "soon", "Soon"
    URGENT = "urgent", "Urgent"


class ReviewState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"


class ReviewOutcome(models.TextChoices):
    NO_ACTION = "no_action", "No action needed"
    ACTION_NEEDED = "action_needed", "Action needed"
    FORWARDED = "forwarded", "Forwarded to a colleague"


class Review(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="reviews")
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="reviews")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="reviews_assigned"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="reviews")
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.ROUTINE)
    due_date = models.DateField()
    note = models.TextField(blank=True, max_length=2000)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(auto_now_add=True)
    forwarded_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="forwarded_to"
    )

    state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.OPEN)
    outcome = models.CharField(max_length=16, choices=ReviewOutcome.choices, blank=True)
    outcome_text = models.TextField(blank=True, max_length=4000, help_text="What action is needed.")
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("due_date", "assigned_at")
        constraints = [
            models.CheckConstraint(
                condition=Q(assignee__isnull=False, team__isnull=True) | Q(assignee__isnull=True, team__isnull=False),
                name="review_assigned_to_user_xor_team",
            ),
            models.CheckConstraint(
                condition=Q(state="open", outcome="", completed_at__isnull=True)
                | Q(state="completed", completed_at__isnull=False, completed_by__isnull=False) & ~Q(outcome=""),
                name="review_outcome_iff_completed",
            ),
            models.CheckConstraint(
                condition=~Q(outcome="action_needed") | ~Q(outcome_text=""),
                name="review_action_needed_has_text",
            ),
        ]
        indexes = [
            # "My reviews": open reviews of one assignee (or team), by due date.
            models.Index(
                fields=("assignee", "due_date", "assigned_at"),
                condition=Q(state="open"),
                name="review_open_by_assignee",
            ),
            models.Index(
                fields=("team", "due_date", "assigned_at"), condition=Q(state="open"), name="review_open_by_team"
            ),
            # The overdue report: open reviews of one organisation by due date.
            models.Index(
                fields=("organisation", "due_date"), condition=Q(state="open"), name="review_open_by_organisation"
            ),
            models.Index(fields=("document", "state"), name="review_by_document"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.document_id} ({self.state})"

    @property
    def assigned_to_label(self) -> str:
        if self.team_id is not None:
            return f"Team: {self.team}"
        assert self.assignee is not None
        return self.assignee.full_name or self.assignee.email
