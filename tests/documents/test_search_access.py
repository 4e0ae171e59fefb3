"""Search reads the access rules from the pages' own copy of their document's columns (organisation,
patient, category, clinical date, `searchable`; docs/search.md, "Speed"): the copy follows every change
of the document, and what search finds is exactly what the list's selector would show."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.documents.models import Document, DocumentPage, Integrity, ScanStatus
from apps.documents.search.index import index_replace_pages
from apps.documents.search.query import SearchScope, document_search, searchable_documents
from apps.documents.services import UploadRequest
from apps.documents.services.changes import document_restore, document_soft_delete, document_update
from apps.documents.services.scanning import document_mark_corrupt, document_record_scan
from apps.documents.services.upload import document_new_version
from apps.files.spooling import spool
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import document_row, stored_document

pytestmark = pytest.mark.django_db

WORD = "edoxaban"
TEXT_ONLY = "ticagrelor"  # on every indexed document's second page, never in a title


def _indexed(patient, user, text: str = WORD, **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=[text, TEXT_ONLY], language="english")
    return document


def _copied(document: Document) -> set[tuple]:
    """What the document's pages hold of it."""
    return set(
        DocumentPage.objects.filter(document=document).values_list(
            "organisation_id", "patient_id", "category", "document_date", "searchable"
        )
    )


def _expected(document: Document) -> set[tuple]:
    document.refresh_from_db()
    searchable = document.is_current and document.is_available
    return {(document.organisation_id, document.patient_id, document.category, document.document_date, searchable)}


def _found(user, q: str = WORD, **scope) -> set[uuid.UUID]:
    results = document_search(user=user, q=q, scope=SearchScope(**scope))
    assert results.total == len(results.hits)
    return {hit.document.pk for hit in results.hits}


def test_pages_copy_their_document_and_follow_every_change(clinician, administrator, patient, organisation):
    document = _indexed(patient, clinician, category="lab")
    assert _copied(document) == _expected(document) and _expected(document) == {
        (organisation.pk, patient.pk, "lab", date(2024, 3, 5), True)
    }
    # a category and date edit through the service
    document_update(actor=clinician, document=document, category="referral", document_date=date(2025, 1, 2))
    assert _copied(document) == _expected(document)
    assert {row[2:4] for row in _copied(document)} == {("referral", date(2025, 1, 2))}
    # deletion hides it, a restore shows it again
    document_soft_delete(actor=administrator, document=document, reason="filed to the wrong patient")
    assert _copied(document) == _expected(document) and not _copied(document).pop()[4]
    assert _found(clinician) == set()
    document_restore(actor=administrator, document=document)
    assert _copied(document) == _expected(document) and _copied(document).pop()[4]
    assert _found(clinician) == {document.pk}
    # integrity lost
    assert document_mark_corrupt(document_id=document.pk, reason="hash mismatch")
    assert _copied(document) == _expected(document) and not _copied(document).pop()[4]
    assert _found(clinician) == set()
    # any other write of the row, even a bulk UPDATE that no service wrote: moved to another patient
    other = factories.make_patient(organisation)
    Document.objects.filter(pk=document.pk).update(integrity=Integrity.OK, patient=other)
    assert _copied(document) == _expected(document) and {row[1] for row in _copied(document)} == {other.pk}
    assert _found(clinician, patient_id=other.pk) == {document.pk} and _found(clinician, patient_id=patient.pk) == set()


def test_a_scan_result_and_quarantine_reach_the_pages(clinician, patient):
    pending = _indexed(patient, clinician, scan_status=ScanStatus.PENDING)
    assert _copied(pending) == _expected(pending) and _found(clinician) == set()
    document_record_scan(document=pending, clean=True)
    assert _copied(pending) == _expected(pending) and _found(clinician) == {pending.pk}
    # a rescan that finds a virus in a stored document quarantines it (rescanning's save)
    pending.refresh_from_db()
    pending.scan_status = ScanStatus.INFECTED
    pending.save(update_fields=["scan_status", "updated_at"])
    assert _copied(pending) == _expected(pending) and _found(clinician) == set()


def test_a_new_version_takes_the_place_of_the_old_one(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=text_samples.text_pdf([f"{WORD} first"]))
    index_replace_pages(document_id=first.pk, pages=[f"{WORD} first"], language="english")
    item = UploadRequest(
        spooled=spool([text_samples.text_pdf(["second"])], max_bytes=10**7), filename="v2.pdf", category=""
    )
    second = document_new_version(actor=clinician, current=first, item=item)
    document_record_scan(document=second, clean=True)
    index_replace_pages(document_id=second.pk, pages=[f"{WORD} second"], language="english")
    assert _copied(first) == _expected(first) and not _copied(first).pop()[4]
    assert _found(clinician) == {second.pk}


def test_restricting_a_record_hides_it_at_once_and_the_care_team_or_break_glass_opens_it(
    clinician, other_clinician, organisation
):
    patient = factories.make_patient(organisation)
    document = _indexed(patient, clinician)
    colleague = factories.make_user(organisation, ["clinician"], email="colleague@clinic.test")
    assert _found(colleague) == {document.pk}
    Patient.objects.filter(pk=patient.pk).update(restricted=True)
    assert _found(colleague) == set() and _found(colleague, patient_id=patient.pk) == set()
    CareTeamMember.objects.create(patient=patient, user=colleague)
    assert _found(colleague) == {document.pk}
    CareTeamMember.objects.filter(user=colleague).delete()
    grant = BreakGlassAccess.objects.create(
        patient=patient, user=colleague, reason="emergency", expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert _found(colleague) == {document.pk}
    BreakGlassAccess.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _found(colleague) == set()
    assert _found(other_clinician) == set()


def test_search_finds_exactly_what_the_list_would_show_for_every_user_state_and_scope(
    clinician, billing_user, administrator, organisation, other_organisation, other_clinician
):
    # given documents in every state, category and date, with the word in their text and in their title
    open_patient = factories.make_patient(organisation)
    restricted = factories.make_patient(organisation, restricted=True)
    cared = factories.make_patient(organisation, restricted=True)
    CareTeamMember.objects.create(patient=cared, user=clinician)
    states = [
        {},
        {"deleted_at": timezone.now(), "deleted_by": administrator},
        {"scan_status": ScanStatus.INFECTED},
        {"scan_status": ScanStatus.PENDING},
        {"scan_status": ScanStatus.ERROR},
        {"scan_status": ScanStatus.NOT_SCANNED},
        {"integrity": Integrity.CORRUPT},
        {"is_current": False},
        {"purged_at": timezone.now()},
    ]
    combinations = itertools.product(
        [open_patient, restricted, cared], states, ["lab", "insurance"], [date(2020, 1, 1), date(2024, 6, 1)]
    )
    for n, (patient, state, category, day) in enumerate(combinations):
        _indexed(patient, clinician, category=category, document_date=day, title=f"{WORD} note {n}", **state)
        document_row(patient, clinician, category=category, document_date=day, title=f"{WORD} title {n}", **state)
    _indexed(factories.make_patient(other_organisation), other_clinician)
    scopes = [
        SearchScope(),
        SearchScope(patient_id=open_patient.pk),
        SearchScope(patient_id=cared.pk),
        SearchScope(patient_id=restricted.pk),
        SearchScope(category="insurance"),
        SearchScope(date_from=date(2022, 1, 1)),
        SearchScope(date_to=date(2022, 1, 1), category="lab"),
    ]
    for user, scope in itertools.product([clinician, billing_user, administrator, other_clinician], scopes):
        expected = set(searchable_documents(user=user, scope=scope).values_list("pk", flat=True))
        # text and title both match: every document the list shows, and none it does not
        results = document_search(user=user, q=WORD, scope=scope, limit=1000)
        assert {hit.document.pk for hit in results.hits} == expected, (user.email, scope)
        assert results.total == len(expected)
        # text only (the title words are not in the text): the documents shown that have pages
        with_pages = expected & set(DocumentPage.objects.values_list("document_id", flat=True))
        results = document_search(user=user, q=TEXT_ONLY, scope=scope, limit=1000)
        assert {hit.document.pk for hit in results.hits} == with_pages, (user.email, scope)


@pytest.mark.parametrize(
    ("q", "found"),
    [
        pytest.param("Warfarin dosing", True, id="stemmed-and-typed-alike"),
        pytest.param("doses", True, id="stemmed-only"),
        pytest.param("to be", True, id="stop-words-only-as-typed"),
        pytest.param('"not to be"', True, id="phrase-with-stop-words"),
        pytest.param("warfarin -dosing", False, id="excluded-as-typed"),
        # excluded as typed ("doses" is not on the page), though its stem is: the typed test finds it
        pytest.param("warfarin -doses", True, id="excluded-only-stemmed"),
    ],
)
def test_words_as_typed_are_still_tested_where_stemming_would_miss_them(clinician, patient, q, found):
    # given a page with stop words and a stemmed word, then each form of query finds it or not as before
    document = _indexed(patient, clinician, "Warfarin dosing: to be or not to be reviewed")
    assert _found(clinician, q) == ({document.pk} if found else set())
