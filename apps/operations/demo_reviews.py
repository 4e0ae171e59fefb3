"""The demo's clinical reviews: a team, one overdue review, one waiting for the team, one completed.

Invented, and added once: nothing is done when the demo organisation already has its team.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.documents.models import Document
from apps.patients.models import Patient
from apps.reviews.models import ReviewOutcome, Team
from apps.reviews.services import assign_review, complete_review

DEMO_TEAM = "Duty doctors"


def seed_reviews(*, clinician: User, colleague: User, patient: Patient) -> bool:
    """Assign three of `patient`'s documents for review (through the audited services, as a clinician would)."""
    if Team.objects.filter(organisation_id=patient.organisation_id, name=DEMO_TEAM).exists():
        return False
    documents = list(Document.objects.filter(patient=patient, is_current=True).order_by("uploaded_at")[:3])
    if len(documents) < 3:
        return False
    team = Team.objects.create(organisation_id=patient.organisation_id, name=DEMO_TEAM)
    team.members.add(clinician, colleague)
    today = timezone.localdate()
    first, second, third = documents
    assign_review(
        first,
        assignee=clinician,
        priority="soon",
        due_date=today - timedelta(days=3),
        assigned_by=colleague,
        note="Knee aspirate result: does the plan need changing?",
    )
    assign_review(second, team=team, priority="routine", due_date=today + timedelta(days=5), assigned_by=clinician)
    done = assign_review(third, assignee=colleague, priority="urgent", due_date=today, assigned_by=clinician)
    complete_review(done, actor=colleague, outcome=ReviewOutcome.ACTION_NEEDED, text="Repeat the INR in one week.")
    return True
