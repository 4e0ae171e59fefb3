"""Assigning and completing reviews: roles, tenancy, outcomes, forwarding, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.reviews.errors import ReviewAssigneeInvalid, ReviewNotOpen, ReviewOutcomeIncomplete
from apps.reviews.models import Review, ReviewState, Team
from apps.reviews.selectors import overdue_reviews, reviews_waiting_for
from apps.reviews.services import assign_review, complete_review
from quill.errors import NotFound, PermissionDenied
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(patient, clinician):
    return document_row(patient, clinician, title="Discharge letter")


@pytest.fixture
def colleague(organisation):
    return factories.make_user(organisation, ["clinician"], email="colleague@example.test")


def _assign(document, by, **fields):
    fields.setdefault("priority", "routine")
    fields.setdefault("due_date", timezone.localdate() + timedelta(days=3))
    return assign_review(document, assigned_by=by, **fields)


def _actions(document) -> list[str]:
    return list(AuditEvent.objects.filter(object_id=str(document.pk)).order_by("id").values_list("action", flat=True))


def test_assigning_to_a_colleague_opens_a_review_and_audits_it(document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague, priority="urgent", note="Please look at the bloods")

    assert review.state == ReviewState.OPEN
    assert review.organisation_id == document.organisation_id
    assert list(reviews_waiting_for(colleague)) == [review]
    event = AuditEvent.objects.get(action=Action.REVIEW_ASSIGNED)
    assert event.details["assignee"] == str(colleague.pk)
    assert event.details["priority"] == "urgent"
    assert event.patient_id == document.patient_id


def test_a_team_review_waits_for_every_member(organisation, document, clinician, colleague):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")
    team.members.add(colleague)

    review = _assign(document, clinician, team=team)

    assert list(reviews_waiting_for(colleague)) == [review]
    assert list(reviews_waiting_for(clinician)) == []


@pytest.mark.parametrize("role", ["billing"], ids=["billing"])
def test_a_non_clinical_role_may_not_assign_and_the_refusal_is_audited(organisation, document, colleague, role):
    clerk = factories.make_user(organisation, [role], email="clerk@example.test")

    with pytest.raises(PermissionDenied):
        _assign(document, clerk, assignee=colleague)

    assert not Review.objects.exists()
    assert _actions(document) == [Action.ACCESS_DENIED]


def test_another_organisations_document_is_not_found(other_patient, other_clinician, clinician):
    theirs = document_row(other_patient, other_clinician)

    with pytest.raises(NotFound):
        _assign(theirs, clinician, assignee=clinician)

    assert not Review.objects.exists()


def test_assigning_to_a_user_of_another_organisation_is_refused(document, clinician, other_clinician):
    with pytest.raises(ReviewAssigneeInvalid):
        _assign(document, clinician, assignee=other_clinician)

    assert not Review.objects.exists()


def test_assigning_to_another_organisations_team_is_refused(document, clinician, other_organisation):
    theirs = Team.objects.create(organisation=other_organisation, name="Their team")

    with pytest.raises(ReviewAssigneeInvalid):
        _assign(document, clinician, team=theirs)

    assert not Review.objects.exists()


def test_both_or_neither_assignee_and_team_is_refused(organisation, document, clinician, colleague):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")

    with pytest.raises(ReviewAssigneeInvalid):
        _assign(document, clinician, assignee=colleague, team=team)
    with pytest.raises(ReviewAssigneeInvalid):
        _assign(document, clinician)

    assert not Review.objects.exists()


def test_completing_with_no_action_records_who_and_when(document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague)

    completed = complete_review(review, actor=colleague, outcome="no_action")

    assert completed.state == ReviewState.COMPLETED
    assert completed.completed_by == colleague
    assert completed.completed_at is not None
    assert list(reviews_waiting_for(colleague)) == []
    assert _actions(document) == [Action.REVIEW_ASSIGNED, Action.REVIEW_COMPLETED]


def test_completing_twice_is_a_conflict(document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague)
    complete_review(review, actor=colleague, outcome="no_action")

    with pytest.raises(ReviewNotOpen):
        complete_review(review, actor=colleague, outcome="action_needed", text="Call the patient")

    review.refresh_from_db()
    assert review.outcome == "no_action"


def test_action_needed_without_text_is_refused(document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague)

    with pytest.raises(ReviewOutcomeIncomplete):
        complete_review(review, actor=colleague, outcome="action_needed", text="   ")

    review.refresh_from_db()
    assert review.state == ReviewState.OPEN


def test_forwarding_completes_the_review_and_opens_one_for_the_colleague(organisation, document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague)
    gp = factories.make_user(organisation, ["clinician"], email="gp@example.test")

    complete_review(review, actor=colleague, outcome="forwarded", text="Dr Lee knows this patient", forward_to=gp)

    review.refresh_from_db()
    assert review.outcome == "forwarded"
    forwarded = Review.objects.get(assignee=gp)
    assert forwarded.forwarded_from == review
    assert forwarded.state == ReviewState.OPEN
    assert _actions(document) == [Action.REVIEW_ASSIGNED, Action.REVIEW_COMPLETED, Action.REVIEW_FORWARDED]


def test_forwarding_to_another_organisation_is_refused_and_nothing_changes(
    document, clinician, colleague, other_clinician
):
    review = _assign(document, clinician, assignee=colleague)

    with pytest.raises(ReviewAssigneeInvalid):
        complete_review(review, actor=colleague, outcome="forwarded", forward_to=other_clinician)

    review.refresh_from_db()
    assert review.state == ReviewState.OPEN
    assert Review.objects.count() == 1


def test_someone_not_assigned_may_not_complete(organisation, document, clinician, colleague):
    review = _assign(document, clinician, assignee=colleague)
    bystander = factories.make_user(organisation, ["clinician"], email="bystander@example.test")

    with pytest.raises(PermissionDenied):
        complete_review(review, actor=bystander, outcome="no_action")

    review.refresh_from_db()
    assert review.state == ReviewState.OPEN
    assert _actions(document)[-1] == Action.ACCESS_DENIED


def test_overdue_reviews_lists_only_open_past_due_reviews_of_the_organisation(document, clinician, colleague):
    today = timezone.localdate()
    late = _assign(document, clinician, assignee=colleague, due_date=today - timedelta(days=2))
    _assign(document, clinician, assignee=colleague, due_date=today + timedelta(days=2))
    done = _assign(document, clinician, assignee=colleague, due_date=today - timedelta(days=5))
    complete_review(done, actor=colleague, outcome="no_action")

    assert list(overdue_reviews(organisation_id=document.organisation_id)) == [late]
    assert reviews_waiting_for(colleague).first() == late
