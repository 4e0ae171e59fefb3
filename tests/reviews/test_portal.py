"""The review pages: assigning from the document page, "My reviews", completing, the overdue report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.reviews.models import Review, ReviewOutcome, ReviewState, Team
from apps.reviews.services import assign_review
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(patient, clinician):
    return document_row(patient, clinician, title="Discharge letter")


@pytest.fixture
def colleague(organisation):
    return factories.make_user(
        organisation, ["clinician"], email="colleague@example.test", full_name="Dr Ada Colleague"
    )


def _review(document, by, *, days=3, **fields):
    fields.setdefault("priority", "routine")
    return assign_review(document, assigned_by=by, due_date=timezone.localdate() + timedelta(days=days), **fields)


def _assign_data(**overrides):
    data = {"priority": "urgent", "due_date": (timezone.localdate() + timedelta(days=2)).isoformat(), "note": ""}
    data.update(overrides)
    return data


def test_the_document_page_shows_open_and_completed_reviews_and_the_form(document, clinician, colleague):
    _review(document, clinician, assignee=colleague, priority="urgent", days=-1)
    done = _review(document, clinician, assignee=clinician)
    done.state, done.outcome, done.outcome_text = ReviewState.COMPLETED, ReviewOutcome.ACTION_NEEDED, "Repeat bloods"
    done.completed_by, done.completed_at = clinician, timezone.now()
    done.save()

    page = factories.signed_in_client(clinician).get(reverse("documents:detail", args=[document.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Dr Ada Colleague" in html and "Overdue" in html and "Urgent" in html
    assert "Action needed" in html and "Repeat bloods" in html
    assert reverse("reviews:assign", args=[document.pk]) in html


def test_billing_sees_no_form_and_a_post_is_refused_and_audited(organisation, patient, clinician, colleague):
    document = document_row(patient, clinician, category="insurance", title="Insurance form")
    clerk = factories.make_user(organisation, ["billing"], email="clerk@example.test")
    client = factories.signed_in_client(clerk)
    page = client.get(reverse("documents:detail", args=[document.pk]))
    assert page.status_code == 200
    assert reverse("reviews:assign", args=[document.pk]) not in page.content.decode()

    answer = client.post(reverse("reviews:assign", args=[document.pk]), _assign_data(assign_to=f"user:{colleague.pk}"))

    assert answer.status_code == 403
    assert not Review.objects.exists()
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, actor_id=clerk.pk).exists()


def test_assigning_from_the_document_page_opens_a_review(document, clinician, colleague):
    client = factories.signed_in_client(clinician)

    answer = client.post(reverse("reviews:assign", args=[document.pk]), _assign_data(assign_to=f"user:{colleague.pk}"))

    assert answer.status_code == 302
    review = Review.objects.get()
    assert (review.assignee, review.priority, review.assigned_by) == (colleague, "urgent", clinician)
    assert AuditEvent.objects.filter(action=Action.REVIEW_ASSIGNED).count() == 1


def test_assigning_to_a_team(organisation, document, clinician):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")

    factories.signed_in_client(clinician).post(
        reverse("reviews:assign", args=[document.pk]), _assign_data(assign_to=f"team:{team.pk}")
    )

    assert Review.objects.get().team == team


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"assign_to": ""}, "This field is required."),
        ({"due_date": "2001-01-01"}, "The due date cannot be in the past."),
        ({"due_date": "soon"}, "Enter a valid date."),
        ({"priority": "whenever"}, "Select a valid choice."),
    ],
    ids=["no-assignee", "past-due", "bad-date", "bad-priority"],
)
def test_a_bad_assignment_is_explained_and_nothing_is_stored(document, clinician, colleague, data, message):
    answer = factories.signed_in_client(clinician).post(
        reverse("reviews:assign", args=[document.pk]), _assign_data(**{"assign_to": f"user:{colleague.pk}", **data})
    )

    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not Review.objects.exists()


def test_a_colleague_of_another_organisation_is_not_a_choice(document, clinician, other_clinician):
    answer = factories.signed_in_client(clinician).post(
        reverse("reviews:assign", args=[document.pk]), _assign_data(assign_to=f"user:{other_clinician.pk}")
    )

    assert answer.status_code == 400
    assert not Review.objects.exists()


def test_another_organisations_document_is_not_found(other_patient, other_clinician, clinician):
    theirs = document_row(other_patient, other_clinician)

    answer = factories.signed_in_client(clinician).post(
        reverse("reviews:assign", args=[theirs.pk]), _assign_data(assign_to=f"user:{clinician.pk}")
    )

    assert answer.status_code == 404
    assert not Review.objects.exists()


def test_my_reviews_lists_mine_and_my_teams_overdue_first(organisation, patient, clinician, colleague):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")
    team.members.add(colleague)
    later = _review(document_row(patient, clinician, title="Later letter"), clinician, assignee=colleague, days=5)
    late = _review(document_row(patient, clinician, title="Late letter"), clinician, team=team, days=-2)
    _review(document_row(patient, clinician, title="Not mine"), clinician, assignee=clinician)

    page = factories.signed_in_client(colleague).get(reverse("reviews:mine"))

    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("Late letter") < html.index("Later letter")
    assert "Not mine" not in html
    assert reverse("documents:detail", args=[late.document_id]) in html
    assert reverse("reviews:complete", args=[later.pk]) in html
    assert 'href="/reviews/"' in html  # the nav link
    assert AuditEvent.objects.filter(action=Action.REVIEW_LISTED, actor_id=colleague.pk).exists()


def test_my_reviews_is_for_clinical_roles(organisation):
    clerk = factories.make_user(organisation, ["billing"], email="clerk@example.test")

    assert factories.signed_in_client(clerk).get(reverse("reviews:mine")).status_code == 403
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, actor_id=clerk.pk).exists()


def test_completing_with_action_needed(document, clinician, colleague):
    review = _review(document, clinician, assignee=colleague)

    answer = factories.signed_in_client(colleague).post(
        reverse("reviews:complete", args=[review.pk]), {"outcome": "action_needed", "text": "Book a follow-up"}
    )

    assert answer.status_code == 302
    review.refresh_from_db()
    assert (review.state, review.outcome, review.outcome_text) == ("completed", "action_needed", "Book a follow-up")
    assert review.completed_by == colleague


def test_forwarding_opens_a_review_for_the_colleague(document, clinician, colleague):
    review = _review(document, clinician, assignee=colleague)
    due = timezone.localdate() + timedelta(days=4)

    factories.signed_in_client(colleague).post(
        reverse("reviews:complete", args=[review.pk]),
        {"outcome": "forwarded", "forward_to": str(clinician.pk), "forward_due_date": due.isoformat(), "text": "Yours"},
    )

    forwarded = Review.objects.get(forwarded_from=review)
    assert (forwarded.assignee, forwarded.due_date, forwarded.state) == (clinician, due, "open")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose an outcome."),
        ({"outcome": "action_needed", "text": "  "}, "Say what action is needed."),
        ({"outcome": "forwarded"}, "Name the colleague to forward the review to."),
        ({"outcome": "forwarded", "forward_to": "nobody"}, "Select a valid choice."),
    ],
    ids=["no-outcome", "action-without-text", "forward-without-colleague", "forward-to-unknown"],
)
def test_a_bad_outcome_is_explained_and_nothing_is_stored(document, clinician, colleague, data, message):
    review = _review(document, clinician, assignee=colleague)

    answer = factories.signed_in_client(colleague).post(reverse("reviews:complete", args=[review.pk]), data)

    assert answer.status_code == 400
    assert message in answer.content.decode()
    review.refresh_from_db()
    assert review.state == ReviewState.OPEN
    assert Review.objects.count() == 1


def test_completing_twice_is_explained(document, clinician, colleague):
    review = _review(document, clinician, assignee=colleague)
    client = factories.signed_in_client(colleague)
    client.post(reverse("reviews:complete", args=[review.pk]), {"outcome": "no_action"})

    answer = client.post(reverse("reviews:complete", args=[review.pk]), {"outcome": "no_action"})

    assert answer.status_code == 409
    assert "already been completed" in answer.content.decode()


def test_someone_elses_review_is_refused_and_another_organisations_is_not_found(
    organisation, document, clinician, colleague, other_patient, other_clinician
):
    mine = _review(document, clinician, assignee=colleague)
    theirs = _review(document_row(other_patient, other_clinician), other_clinician, assignee=other_clinician)
    client = factories.signed_in_client(clinician)

    assert client.post(reverse("reviews:complete", args=[mine.pk]), {"outcome": "no_action"}).status_code == 403
    assert client.post(reverse("reviews:complete", args=[theirs.pk]), {"outcome": "no_action"}).status_code == 404
    assert client.post(reverse("reviews:complete", args=["not-a-uuid"]), {"outcome": "no_action"}).status_code == 404
    assert Review.objects.filter(state=ReviewState.OPEN).count() == 2


def test_the_overdue_report_and_its_csv(document, clinician, colleague, administrator):
    _review(document, clinician, assignee=colleague, days=-3)
    _review(document, clinician, assignee=colleague, days=1)
    client = factories.signed_in_client(administrator)

    page = client.get(reverse("reviews:overdue"))
    export = client.get(reverse("reviews:overdue") + "?format=csv")

    assert page.status_code == 200
    assert "Discharge letter" in page.content.decode() and "1 open review past its due date" in page.content.decode()
    lines = export.content.decode().splitlines()
    assert export["Content-Type"].startswith("text/csv")
    assert len(lines) == 2
    assert lines[1].split(",")[1:3] == ["3", "Routine"]
    assert "Dr Ada Colleague" in lines[1]


def test_the_overdue_report_is_for_administrators_and_owners(clinician):
    assert factories.signed_in_client(clinician).get(reverse("reviews:overdue")).status_code == 403


def test_the_patient_page_marks_documents_awaiting_review_in_a_bounded_number_of_queries(
    organisation, patient, clinician, colleague
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = factories.signed_in_client(clinician)
    url = reverse("patients:detail", args=[patient.pk])
    _review(document_row(patient, clinician, title="First letter"), clinician, assignee=colleague)
    document_row(patient, clinician, title="Unreviewed letter")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        first = client.get(url)
    for title in ("Second letter", "Third letter"):
        _review(document_row(patient, clinician, title=title), clinician, assignee=colleague)
    with CaptureQueriesContext(connection) as three:
        page = client.get(url)

    html = page.content.decode()
    assert first.status_code == page.status_code == 200
    assert "3 documents waiting for clinical review" in html
    assert html.count("data-review-badge") == 3
    assert len(three.captured_queries) == len(one.captured_queries)


def test_billing_is_not_told_of_clinical_documents_awaiting_review(organisation, patient, clinician, colleague):
    _review(document_row(patient, clinician, title="Lab report"), clinician, assignee=colleague)
    clerk = factories.make_user(organisation, ["billing"], email="clerk@example.test")

    page = factories.signed_in_client(clerk).get(reverse("patients:detail", args=[patient.pk]))

    assert page.status_code == 200
    assert "waiting for clinical review" not in page.content.decode()


def test_the_access_report_tells_who_was_asked_to_review_and_what_they_found(
    organisation, patient, document, clinician, colleague
):
    team = Team.objects.create(organisation=organisation, name="Duty doctors")
    team.members.add(colleague)
    _review(document, clinician, assignee=colleague, priority="urgent")
    for_team = _review(document, clinician, team=team)
    factories.signed_in_client(colleague).post(
        reverse("reviews:complete", args=[for_team.pk]), {"outcome": "action_needed", "text": "Repeat the INR"}
    )

    page = factories.signed_in_client(clinician).get(reverse("patients:access_report", args=[patient.pk]))

    html = page.content.decode()
    due = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert f"To Dr Ada Colleague; urgent priority; due {due}" in html
    assert f"To team Duty doctors; routine priority; due {due}" in html
    assert "Action needed: “Repeat the INR”" in html
