"""Searching documents' text: stemming and exact codes, typo-tolerant titles, snippets with pages,
access exactly as the document list (nothing of an inaccessible document leaks), and the audit."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import date

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.search.index import index_replace_pages
from apps.documents.search.query import SearchScope, document_search, document_text_pages, fts5_query
from apps.documents.services.searching import document_search_record
from apps.documents.services.text import document_extract_text
from apps.patients.models import CareTeamMember
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import document_row, stored_document

pytestmark = pytest.mark.django_db

WORD = "apixaban"  # in the text of every document below, never in a title


def _indexed(patient, user, text: str, **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=["Cover page", text], language="english")
    Document.objects.filter(pk=document.pk).update(text_status="done")
    return document


def _found(user, q: str = WORD, **scope) -> tuple[set[uuid.UUID], int]:
    results = document_search(user=user, q=q, scope=SearchScope(**scope))
    return {hit.document.pk for hit in results.hits}, results.total


def test_a_text_layer_pdf_is_found_by_its_words_with_the_page_and_a_highlighted_snippet(
    filesystem_storage, clinician, patient
):
    # given a referral whose second page mentions warfarin, read by the text task
    data = text_samples.text_pdf(
        ["Referral to the anticoagulation clinic", "Patient reviews warfarin dosing.\nNHS number 943 476 5919"]
    )
    document = stored_document(user=clinician, patient=patient, data=data, category="referral", title="Referral")
    assert document_extract_text(document_id=document.pk) == "done"
    # when a clinician searches for a stemmed word, then the hit is on page 2 with the word marked
    [hit] = document_search(user=clinician, q="reviewing Warfarin", scope=SearchScope()).hits
    assert hit.document == document and hit.page == 2 and hit.pages == [2]
    assert "<mark>warfarin</mark>" in hit.snippet.lower()
    # and codes and numbers match exactly as typed (the unstemmed `simple` configuration)
    assert _found(clinician, "943 476 5919") == ({document.pk}, 1)
    assert _found(clinician, '"anticoagulation clinic"') == ({document.pk}, 1)
    assert _found(clinician, "warfarin -dosing")[1] == 0  # websearch syntax: a word excluded (page by page)
    assert document_text_pages(document_id=document.pk)[1].number == 2


def test_a_title_is_found_despite_a_typo(clinician, patient):
    document = _indexed(patient, clinician, "Nothing relevant here", title="Echocardiogram report")
    assert _found(clinician, "echocardiogarm") == ({document.pk}, 1)
    [hit] = document_search(user=clinician, q="echocardiogarm", scope=SearchScope()).hits
    assert hit.page is None and hit.snippet == ""


def test_snippets_are_escaped_text_never_markup(clinician, patient):
    _indexed(patient, clinician, f"<script>alert(1)</script> {WORD} dose >5 mg & INR <2 today <b>bold</b>")
    [hit] = document_search(user=clinician, q=WORD, scope=SearchScope()).hits
    assert "<script" not in hit.snippet and "<b>" not in hit.snippet
    assert "&lt;" in hit.snippet and "&amp;" in hit.snippet and "&gt;" in hit.snippet
    assert hit.snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert f"<mark>{WORD}</mark>" in hit.snippet


def test_nothing_of_a_document_the_list_would_not_show_appears_in_results_or_counts(
    clinician, billing_user, administrator, organisation, other_organisation, other_clinician
):
    # given documents mentioning the word in every state the document list hides, and two it shows
    patient = factories.make_patient(organisation)
    restricted = factories.make_patient(organisation, restricted=True)
    lab = _indexed(patient, clinician, f"{WORD} started", category="lab")
    insurance = _indexed(patient, clinician, f"{WORD} claim", category="insurance")
    hidden = {
        "deleted": _indexed(patient, clinician, WORD, deleted_at=timezone.now(), deleted_by=administrator),
        "quarantined": _indexed(patient, clinician, WORD, scan_status=ScanStatus.INFECTED),
        "pending scan": _indexed(patient, clinician, WORD, scan_status=ScanStatus.PENDING),
        "corrupt": _indexed(patient, clinician, WORD, integrity="corrupt"),
        "older version": _indexed(patient, clinician, WORD, is_current=False),
        "restricted record": _indexed(restricted, clinician, WORD, category="insurance"),
        "other organisation": _indexed(factories.make_patient(other_organisation), other_clinician, WORD),
    }
    # then the clinician finds exactly the two, and the total counts only them
    assert _found(clinician) == ({lab.pk, insurance.pk}, 2)
    # billing finds only insurance, and its total is 1 (counts do not leak either)
    assert _found(billing_user) == ({insurance.pk}, 1)
    # a patient scope outside the restricted record's care team finds nothing and counts nothing
    assert _found(clinician, patient_id=restricted.pk) == (set(), 0)
    # the care team finds it; another organisation's clinician finds only their own
    CareTeamMember.objects.create(patient=restricted, user=clinician)
    assert _found(clinician) == ({lab.pk, insurance.pk, hidden["restricted record"].pk}, 3)
    assert _found(other_clinician) == ({hidden["other organisation"].pk}, 1)
    # and the scope narrows by category and date as the list does
    assert _found(clinician, category="lab") == ({lab.pk}, 1)
    assert _found(clinician, date_from=date(2030, 1, 1)) == (set(), 0)


def test_pages_of_results_count_the_same_total(clinician, patient):
    documents = {_indexed(patient, clinician, f"{WORD} note {n}").pk for n in range(5)}
    first = document_search(user=clinician, q=WORD, scope=SearchScope(), offset=0, limit=2)
    second = document_search(user=clinician, q=WORD, scope=SearchScope(), offset=2, limit=2)
    past = document_search(user=clinician, q=WORD, scope=SearchScope(), offset=10, limit=2)
    assert (first.total, second.total, past.total) == (5, 5, 5)
    seen = [hit.document.pk for hit in first.hits + second.hits]
    assert len(set(seen)) == 4 and set(seen) <= documents and past.hits == []


def test_a_search_is_audited_with_query_scope_and_count_never_document_text(clinician, patient):
    _indexed(patient, clinician, f"{WORD} secret clinical detail")
    scope = SearchScope(patient_id=patient.pk, category="lab")
    results = document_search(user=clinician, q=WORD, scope=scope)
    document_search_record(actor=clinician, q=WORD, scope=scope, results=results.total, via="api")
    event = AuditEvent.objects.get(action="document.searched")
    assert event.details == {
        "query": WORD,
        "scope": {"patient_id": str(patient.pk), "category": "lab"},
        "results": 1,
        "via": "api",
    }
    assert str(event.patient_id) == str(patient.pk)
    assert "secret" not in str(event.details)


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        pytest.param("warfarin dose", {"a"}, id="all-words"),
        pytest.param('"daily dose"', {"a"}, id="phrase"),
        pytest.param("warfarin -dose", {"b"}, id="excluded"),
        pytest.param("dose or insulin", {"a", "c"}, id="or"),
        pytest.param("reviewed", {"b"}, id="stemmed"),
    ],
)
def test_websearch_syntax_means_the_same_on_sqlite_fts5(query, matches):
    # The embedded run's FTS5 table, as the migration makes it, asked the translated query.
    database = sqlite3.connect(":memory:")
    database.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'porter unicode61 remove_diacritics 2')")
    rows = {"a": "warfarin daily dose", "b": "warfarin to be reviews", "c": "insulin"}
    database.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", [(ord(k), v) for k, v in rows.items()])
    found = database.execute("SELECT rowid FROM t WHERE t MATCH ?", [fts5_query(query)]).fetchall()
    assert {chr(rowid) for (rowid,) in found} == matches
