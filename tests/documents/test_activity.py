"""The document page's activity table: repeated reads collapsed in the database, paged newest first.

The long histories are appended straight into the organisation's audit chain
(`tests.documents.helpers.append_events`): thousands of events in well under a second, and
`verify_audit` still passes over them.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record, chain_key
from apps.audit.verification import verify_chain
from apps.documents.selectors import document_activity
from tests import factories
from tests.documents import samples
from tests.documents.helpers import append_events, stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _summary(page) -> list[tuple[str, str, int]]:
    return [(row.last.action, row.who, row.count) for row in page.rows]


def _all_pages(document, versions, page_size):
    pages = [document_activity(document=document, version_ids=versions, page_size=page_size)]
    while pages[-1].older is not None:
        pages.append(
            document_activity(document=document, version_ids=versions, before=pages[-1].older, page_size=page_size)
        )
    return pages


@pytest.fixture
def document(filesystem_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Old lab")


def test_runs_of_one_read_by_one_person_collapse_and_anything_else_breaks_them(document, clinician, organisation):
    colleague = factories.make_user(organisation, ["clinician"], full_name="Dr Colleague")
    viewed, downloaded, updated = Action.DOCUMENT_VIEWED, Action.DOCUMENT_DOWNLOADED, Action.DOCUMENT_UPDATED
    append_events(
        document,
        [
            *[(viewed, clinician, Outcome.SUCCESS)] * 3,
            (viewed, colleague, Outcome.SUCCESS),  # another person
            *[(viewed, clinician, Outcome.SUCCESS)] * 2,
            (viewed, clinician, Outcome.DENIED),  # another outcome
            *[(downloaded, clinician, Outcome.SUCCESS)] * 2,  # another read
            *[(updated, clinician, Outcome.SUCCESS)] * 2,  # a change is never collapsed
            *[(viewed, None, Outcome.SUCCESS)] * 2,  # no person: a run of its own too
        ],
    )

    page = document_activity(document=document, version_ids=[document.pk])

    assert _summary(page) == [
        ("document.viewed", "system", 2),
        ("document.updated", clinician.full_name, 1),
        ("document.updated", clinician.full_name, 1),
        ("document.downloaded", clinician.full_name, 2),
        ("document.viewed", clinician.full_name, 1),
        ("document.viewed", clinician.full_name, 2),
        ("document.viewed", "Dr Colleague", 1),
        ("document.viewed", clinician.full_name, 3),
        ("document.uploaded", clinician.full_name, 1),
    ]
    assert page.rows[1].last.outcome == Outcome.SUCCESS and page.rows[4].last.outcome == Outcome.DENIED
    first, last = page.rows[-2].first, page.rows[-2].last
    assert first.sequence == last.sequence - 2 and first.occurred_at < last.occurred_at
    assert page.older is None and page.before is None


def test_annotation_events_of_the_document_are_in_its_activity_and_other_documents_are_not(
    document, clinician, patient
):
    other = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Other")
    for target in (document, other):
        audit_record(
            action=Action.ANNOTATION_CREATED,
            actor=clinician,
            organisation_id=target.organisation_id,
            patient_id=target.patient_id,
            object_type="annotation",
            object_id="7",
            details={"document_id": str(target.pk)},
        )

    rows = document_activity(document=document, version_ids=[document.pk]).rows

    assert [row.last.action for row in rows] == ["annotation.created", "document.uploaded"]
    assert rows[0].last.details["document_id"] == str(document.pk)


def test_thousands_of_events_page_through_every_one_in_constant_queries(document, clinician, organisation):
    colleague = factories.make_user(organisation, ["clinician"])
    viewed, previewed = Action.DOCUMENT_VIEWED, Action.DOCUMENT_PREVIEWED
    # 6,000 reads: long runs (a clinician paging through the viewer) between short ones.
    pattern = [(previewed, clinician, Outcome.SUCCESS)] * 40 + [(viewed, colleague, Outcome.SUCCESS)] * 3
    history = (pattern * 140)[:6000]
    append_events(document, history)

    with CaptureQueriesContext(connection) as long_history:
        newest = document_activity(document=document, version_ids=[document.pk], page_size=20)
    pages = _all_pages(document, [document.pk], page_size=20)

    assert _summary(newest)[:3] == [
        ("document.previewed", clinician.full_name, 23),  # 6,000 = 139 patterns of 43 + 23 reads
        ("document.viewed", colleague.full_name, 3),
        ("document.previewed", clinician.full_name, 40),
    ]
    rows = [row for page in pages for row in page.rows]
    assert len(rows) == 1 + 139 * 2 + 1  # the partial run, 139 whole patterns, the upload
    assert sum(row.count for row in rows) == 6001  # every event once, none lost or doubled at a page's end
    assert [len(page.rows) for page in pages] == [20] * 14
    sequences = [row.last.sequence for row in rows]
    assert sequences == sorted(sequences, reverse=True)
    assert pages[-1].rows[-1].last.action == "document.uploaded" and pages[-1].older is None

    short = stored_document(user=clinician, patient=document.patient, data=samples.pdf(), title="New")
    with CaptureQueriesContext(connection) as short_history:
        document_activity(document=short, version_ids=[short.pk], page_size=20)
    # The runs, their first and last events, the people's names: the same for 1 event or 6,001.
    assert len(long_history) == len(short_history) == 3


def test_verify_audit_accepts_the_appended_history(document, clinician):
    append_events(document, [(Action.DOCUMENT_VIEWED, clinician, Outcome.SUCCESS)] * 50)

    assert verify_chain(chain_key(document.organisation_id)).ok


def test_the_document_page_shows_one_page_of_runs_and_an_older_link(document, clinician, organisation):
    readers = [factories.make_user(organisation, ["clinician"]) for _ in range(3)]
    # 25 runs of 100 views each, by turns: 2,500 events, 25 rows, two pages.
    append_events(
        document,
        [(Action.DOCUMENT_VIEWED, readers[turn % 3], Outcome.SUCCESS) for turn in range(25) for _ in range(100)],
    )
    client = factories.signed_in_client(clinician)
    url = f"/documents/{document.pk}/"
    client.get(url)

    with CaptureQueriesContext(connection) as long_history:
        first = client.get(url).content.decode()
    activity = first.split("<h3>Activity</h3>")[1]
    assert activity.count("<tr>") == 1 + 20  # the heading row and one page
    assert clinician.full_name in activity.split("(100 times)")[0]  # this client's first view, newest
    assert activity.count("(100 times)") == 19
    older = activity.split('href="?activity_before=')[1].split('#history"')[0]

    second = client.get(url, {"activity_before": older}).content.decode().split("<h3>Activity</h3>")[1]
    assert second.count("(100 times)") == 6 and "Uploaded" in second
    assert 'href="?#history">Newest</a>' in second and "activity_before=" not in second

    quiet = stored_document(user=clinician, patient=document.patient, data=samples.pdf(), title="New")
    client.get(f"/documents/{quiet.pk}/")
    with CaptureQueriesContext(connection) as short_history:
        client.get(f"/documents/{quiet.pk}/")
    assert len(long_history) == len(short_history)


@pytest.mark.parametrize(
    "cursor", ["abc", "-5", "١٢", "9" * 40, ""], ids=["text", "negative", "arabic-digits", "huge", "empty"]
)
def test_a_cursor_that_is_not_a_sequence_number_shows_the_newest_events(document, clinician, cursor):
    client = factories.signed_in_client(clinician)

    response = client.get(f"/documents/{document.pk}/", {"activity_before": cursor})

    assert response.status_code == 200
    assert "Uploaded" in response.content.decode().split('id="history-heading"')[1]
