"""Automatic filing happens only when the organisation enables it, and only on an exact NHS number plus
date-of-birth match in the document's own text; every other case is left for a person."""

from __future__ import annotations

from datetime import date

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.inbox.models import InboxItem, InboxSettings, ItemState
from apps.inbox.services.preparation import inbox_prepare
from apps.reviews.models import Review
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation, nhs_number="9434765919", given_name="Ellis", family_name="Marwood", date_of_birth=date(1970, 3, 1)
    )


@pytest.fixture
def reviewer(organisation):
    return factories.make_user(organisation, ["clinician"])


@pytest.fixture
def auto_on(organisation):
    return InboxSettings.objects.create(organisation=organisation, auto_file=True)


@pytest.fixture
def arrive(filesystem_storage, settings, organisation, reviewer):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation, default_reviewer=reviewer)

    def run(*lines: str, hints=None, default_reviewer=reviewer) -> tuple[InboxItem, str]:
        if default_reviewer is not reviewer:
            source.default_reviewer = default_reviewer
            source.save()
        item = receive(source, letter_pdf(["Clinic letter", *lines]), hints=hints or {}).item
        outcome = inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item, outcome

    return run


def test_exact_nhs_number_and_birth_date_are_filed_automatically_with_a_review(auto_on, arrive, ellis, reviewer):
    item, outcome = arrive("NHS number 943 476 5919", "DOB 01/03/1970", "Seen 30/11/2026")
    assert outcome == "prepared-and-filed" and item.state == ItemState.FILED and item.closed_by == reviewer
    document = Document.objects.get()
    assert document.patient == ellis and document.sha256 == item.sha256
    review = Review.objects.get(document=document)
    assert review.assignee == reviewer and "automatically" in review.note
    assert AuditEvent.objects.get(action="inbox.item_filed").details["automatic"] is True


@pytest.mark.parametrize(
    "lines",
    [
        ("NHS number 943 476 5919",),  # no date of birth
        ("NHS number 943 476 5919", "DOB 02/03/1970"),  # another date of birth
        ("Ellis Marwood", "DOB 01/03/1970"),  # name and date of birth only
        ("NHS number 943 476 5918", "DOB 01/03/1970"),  # a mistyped NHS number (fails mod-11)
        ("NHS number 943 476 5919", "NHS number 943 476 5870", "DOB 01/03/1970"),  # two patients
    ],
)
def test_anything_short_of_an_exact_match_is_left_for_a_person(auto_on, arrive, ellis, organisation, lines):
    factories.make_patient(organisation, nhs_number="9434765870", family_name="Other", date_of_birth=date(1970, 3, 1))
    item, outcome = arrive(*lines)
    assert outcome == "prepared" and item.state == ItemState.READY
    assert Document.objects.count() == 0


def test_nothing_is_filed_automatically_when_the_organisation_has_not_enabled_it(arrive, ellis):
    item, _ = arrive("NHS number 943 476 5919", "DOB 01/03/1970")
    assert item.state == ItemState.READY and item.suggestions["patients"][0]["auto_file"] is True
    assert Document.objects.count() == 0


def test_sender_hints_alone_never_file_automatically(auto_on, arrive, ellis):
    item, _ = arrive("Results enclosed", hints={"nhs_number": "9434765919", "date_of_birth": "1970-03-01"})
    assert item.suggestions["patients"][0]["patient_id"] == str(ellis.pk)
    assert item.state == ItemState.READY and Document.objects.count() == 0


def test_a_source_without_a_default_reviewer_leaves_the_item_for_a_person(auto_on, arrive, ellis):
    item, _ = arrive("NHS number 943 476 5919", "DOB 01/03/1970", default_reviewer=None)
    assert item.state == ItemState.READY and Document.objects.count() == 0


def test_another_organisations_patient_is_never_filed_to(auto_on, arrive, other_organisation):
    factories.make_patient(other_organisation, nhs_number="9434765919", date_of_birth=date(1970, 3, 1))
    item, _ = arrive("NHS number 943 476 5919", "DOB 01/03/1970")
    assert item.state == ItemState.READY and Document.objects.count() == 0
