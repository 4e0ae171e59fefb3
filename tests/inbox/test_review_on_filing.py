"""Filing can assign the filed document for clinical review (apps.reviews.assign_review), in the same transaction."""

from __future__ import annotations

from datetime import date

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.filing import Filing, ReviewRequest, inbox_file, inbox_split
from apps.inbox.services.preparation import inbox_prepare
from apps.reviews.errors import ReviewAssigneeInvalid
from apps.reviews.models import Review, Team
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db

DUE = date(2026, 12, 14)


@pytest.fixture
def colleague(organisation):
    return factories.make_user(organisation, ["clinician"], email="reviewer@demo.example")


@pytest.fixture
def source(organisation, colleague):
    return make_source(organisation, default_reviewer=colleague)


@pytest.fixture
def ready_item(filesystem_storage, settings, source, patient):
    settings.QUILL_SCANNER = "none"

    def make() -> InboxItem:
        data = letter_pdf([f"Clinic letter NHS number {patient.nhs_number}"], ["Page two"])
        item = receive(source, data).item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item

    return make


def test_filing_with_a_review_opens_it_for_the_assignee_and_audits_it(ready_item, clinician, colleague, patient):
    item = ready_item()
    review = ReviewRequest(priority="urgent", due_date=DUE, assignee=colleague)
    document = inbox_file(actor=clinician, item=item, filing=Filing(patient=patient, category="letter", review=review))
    [opened] = Review.objects.all()
    assert (opened.document, opened.assignee, opened.team) == (document, colleague, None)
    assert (opened.priority, opened.due_date, opened.assigned_by) == ("urgent", DUE, clinician)
    assert AuditEvent.objects.filter(action="review.assigned").count() == 1


def test_each_part_of_a_split_gets_its_own_review_for_the_team(ready_item, clinician, organisation, patient):
    team = Team.objects.create(organisation=organisation, name="Results")
    review = ReviewRequest(priority="routine", due_date=DUE, team=team)
    documents = inbox_split(
        actor=clinician,
        item=ready_item(),
        filings=[
            Filing(patient=patient, category="letter", first_page=1, last_page=1, review=review),
            Filing(patient=patient, category="letter", first_page=2, last_page=2, review=review),
        ],
    )
    assert set(Review.objects.values_list("document_id", flat=True)) == {d.pk for d in documents}
    assert set(Review.objects.values_list("team_id", flat=True)) == {team.pk}


def test_an_assignee_of_another_organisation_leaves_nothing_filed(ready_item, clinician, other_organisation, patient):
    stranger = factories.make_user(other_organisation, ["clinician"])
    item = ready_item()
    review = ReviewRequest(priority="routine", due_date=DUE, assignee=stranger)
    with pytest.raises(ReviewAssigneeInvalid):
        inbox_file(actor=clinician, item=item, filing=Filing(patient=patient, category="letter", review=review))
    item.refresh_from_db()
    assert item.state == ItemState.READY
    assert Document.objects.count() == 0 and Review.objects.count() == 0


def test_item_page_prefills_the_sources_default_reviewer_and_files_with_the_review(
    ready_item, clinician, colleague, patient
):
    item = ready_item()
    client = factories.signed_in_client(clinician)
    body = client.get(f"/inbox/{item.pk}/").content.decode()
    assert f'<option value="{colleague.pk}" selected>' in body
    response = client.post(
        f"/inbox/{item.pk}/",
        {"patient": str(patient.pk), "category": "letter", "review_assignee": str(colleague.pk),
         "review_priority": "soon", "review_due_date": "2026-12-14"},
    )  # fmt: skip
    assert response.status_code == 302
    [opened] = Review.objects.all()
    assert opened.assignee == colleague and opened.priority == "soon" and opened.due_date == DUE


def test_portal_review_needs_one_assignee_and_a_due_date(ready_item, clinician, colleague, organisation, patient):
    item = ready_item()
    team = Team.objects.create(organisation=organisation, name="Results")
    client = factories.signed_in_client(clinician)
    base = {"patient": str(patient.pk), "category": "letter"}
    chosen = {"review_assignee": str(colleague.pk), "review_team": str(team.pk), "review_due_date": "2026-12-14"}
    both = client.post(f"/inbox/{item.pk}/", {**base, **chosen})
    assert both.status_code == 400 and "not both" in both.content.decode()
    undated = client.post(f"/inbox/{item.pk}/", {**base, "review_team": str(team.pk)})
    assert undated.status_code == 400 and "due by" in undated.content.decode()
    assert Document.objects.count() == 0 and Review.objects.count() == 0
