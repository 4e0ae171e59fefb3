"""The review API: list mine, assign, complete; tenancy and bad input with exact codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.reviews.models import Review, ReviewState, Team
from apps.reviews.services import assign_review
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(patient, clinician):
    return document_row(patient, clinician, title="Discharge letter")


@pytest.fixture
def colleague(organisation):
    return factories.make_user(organisation, ["clinician"], email="colleague@example.test")


def _due(days: int = 3) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def _open_review(document, by, to, days: int = 3) -> Review:
    return assign_review(
        document, assignee=to, priority="routine", due_date=timezone.localdate() + timedelta(days=days), assigned_by=by
    )


def _code(response) -> str:
    return response.json()["detail"]["error_code"]


def test_assigning_through_the_api_creates_an_open_review(document, clinician, colleague):
    api = factories.token_client(clinician)

    response = api.post(
        f"/api/documents/{document.pk}/reviews/",
        {"assignee": colleague.pk, "priority": "urgent", "due_date": _due(), "note": "Bloods"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "open"
    assert body["assignee"] == colleague.pk
    assert body["priority"] == "urgent"
    assert Review.objects.get().document_id == document.pk


def test_assigning_to_a_team_of_the_organisation(organisation, document, clinician):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")

    response = factories.token_client(clinician).post(
        f"/api/documents/{document.pk}/reviews/", {"team": team.pk, "due_date": _due()}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["team"] == team.pk


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"due_date": "2026-13-01", "assignee": 1}, 400, "invalid"),
        ({"assignee": 1}, 400, "invalid"),
        ({"assignee": 1, "due_date": "2026-01-01", "priority": "whenever"}, 400, "invalid_choice"),
        ({"assignee": 1, "due_date": "2026-01-01", "colour": "red"}, 400, "unknown_field"),
        ({"due_date": "2026-01-01"}, 400, "review_assignee_invalid"),
    ],
    ids=["bad-date", "no-due-date", "bad-priority", "unknown-field", "no-assignee"],
)
def test_bad_assignments_are_refused_and_store_nothing(document, clinician, body, status, code):
    response = factories.token_client(clinician).post(f"/api/documents/{document.pk}/reviews/", body, format="json")

    assert response.status_code == status, response.content
    assert _code(response) == code
    assert not Review.objects.exists()


def test_assigning_to_a_user_of_another_organisation_is_refused(document, clinician, other_clinician):
    response = factories.token_client(clinician).post(
        f"/api/documents/{document.pk}/reviews/", {"assignee": other_clinician.pk, "due_date": _due()}, format="json"
    )

    assert response.status_code == 400
    assert _code(response) == "review_assignee_invalid"
    assert not Review.objects.exists()


def test_another_organisations_document_is_not_found(other_patient, other_clinician, clinician):
    theirs = document_row(other_patient, other_clinician)

    response = factories.token_client(clinician).post(
        f"/api/documents/{theirs.pk}/reviews/", {"assignee": clinician.pk, "due_date": _due()}, format="json"
    )

    assert response.status_code == 404
    assert not Review.objects.exists()


def test_billing_may_not_assign_and_the_refusal_is_audited(organisation, document, colleague):
    clerk = factories.make_user(organisation, ["billing"], email="clerk@example.test")

    response = factories.token_client(clerk).post(
        f"/api/documents/{document.pk}/reviews/", {"assignee": colleague.pk, "due_date": _due()}, format="json"
    )

    assert response.status_code == 403
    assert not Review.objects.exists()
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, actor_id=clerk.pk).exists()


def test_my_reviews_lists_what_waits_for_me_overdue_first(document, clinician, colleague):
    later = _open_review(document, clinician, colleague, days=5)
    overdue = _open_review(document, clinician, colleague, days=-2)
    _open_review(document, colleague, clinician)

    response = factories.token_client(colleague).get("/api/reviews/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(overdue.pk), str(later.pk)]


def test_completing_with_action_needed_records_the_text(document, clinician, colleague):
    review = _open_review(document, clinician, colleague)

    response = factories.token_client(colleague).post(
        f"/api/reviews/{review.pk}/complete/", {"outcome": "action_needed", "text": "Book a follow-up"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["outcome_text"] == "Book a follow-up"
    review.refresh_from_db()
    assert review.state == ReviewState.COMPLETED


def test_completing_twice_is_409(document, clinician, colleague):
    review = _open_review(document, clinician, colleague)
    api = factories.token_client(colleague)
    api.post(f"/api/reviews/{review.pk}/complete/", {"outcome": "no_action"}, format="json")

    response = api.post(f"/api/reviews/{review.pk}/complete/", {"outcome": "no_action"}, format="json")

    assert response.status_code == 409
    assert _code(response) == "review_not_open"


def test_action_needed_without_text_is_400_and_the_review_stays_open(document, clinician, colleague):
    review = _open_review(document, clinician, colleague)

    response = factories.token_client(colleague).post(
        f"/api/reviews/{review.pk}/complete/", {"outcome": "action_needed"}, format="json"
    )

    assert response.status_code == 400
    assert _code(response) == "review_outcome_incomplete"
    review.refresh_from_db()
    assert review.state == ReviewState.OPEN


def test_forwarding_to_a_user_of_another_organisation_is_400(document, clinician, colleague, other_clinician):
    review = _open_review(document, clinician, colleague)

    response = factories.token_client(colleague).post(
        f"/api/reviews/{review.pk}/complete/", {"outcome": "forwarded", "forward_to": other_clinician.pk}, format="json"
    )

    assert response.status_code == 400
    assert _code(response) == "review_assignee_invalid"
    assert Review.objects.count() == 1
    review.refresh_from_db()
    assert review.state == ReviewState.OPEN


def test_forwarding_opens_a_review_for_the_colleague(document, clinician, colleague):
    review = _open_review(document, clinician, colleague)

    response = factories.token_client(colleague).post(
        f"/api/reviews/{review.pk}/complete/", {"outcome": "forwarded", "forward_to": clinician.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    assert Review.objects.get(forwarded_from=review).assignee == clinician


def test_another_organisations_review_is_404_and_audited(other_patient, other_clinician, clinician):
    theirs = document_row(other_patient, other_clinician)
    review = _open_review(theirs, other_clinician, other_clinician)

    response = factories.token_client(clinician).post(
        f"/api/reviews/{review.pk}/complete/", {"outcome": "no_action"}, format="json"
    )

    assert response.status_code == 404
    review.refresh_from_db()
    assert review.state == ReviewState.OPEN
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, actor_id=clinician.pk, object_type="review").exists()
