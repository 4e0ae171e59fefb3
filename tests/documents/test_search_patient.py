"""The patient scope's own statement (docs/search.md, "Speed") answers exactly as the general one does:
the same hits, pages, snippets, ranks and totals under every access rule, the documents read as the
list reads them (with their uploader and patient), in one query fewer; past the candidate cap the
general statement answers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.documents.models import Document
from apps.documents.search import query
from apps.documents.search.index import index_replace_pages
from apps.documents.search.query import SearchResults, SearchScope, document_search
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db

WORD = "dabigatran"


def _indexed(patient, user, pages: list[str], **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=pages, language="english")
    Document.objects.filter(pk=document.pk).update(text_status="done")
    return document


def _search(monkeypatch, patient_statement: bool, **kwargs) -> SearchResults:
    monkeypatch.setattr(query, "PATIENT_STATEMENT", patient_statement)
    return document_search(**kwargs)


def _fields(instance) -> list:
    return [(field.attname, getattr(instance, field.attname)) for field in type(instance)._meta.concrete_fields]


def _seen(results: SearchResults) -> tuple:
    return (
        results.total,
        results.total_exact,
        [
            (
                _fields(hit.document),
                _fields(hit.document.uploaded_by),
                _fields(hit.document.patient),
                hit.page,
                hit.pages,
                str(hit.snippet),
                round(hit.rank, 6),
            )
            for hit in results.hits
        ],
    )


@pytest.fixture
def documents(clinician, patient, other_patient, organisation):
    uploader = factories.make_user(organisation, ["clinician"], email="uploader@example.test")
    made = [
        _indexed(patient, uploader, [f"{WORD} once", "nothing here", f"{WORD} {WORD} twice"], title="Clinic letter"),
        _indexed(patient, clinician, [f"started {WORD} today"], category="insurance", title="Claim"),
        _indexed(patient, clinician, ["no match in the text"], title=f"{WORD.capitalize()} plan"),  # title only
        _indexed(patient, clinician, [f"{WORD} stopped"], title="Deleted letter"),
        _indexed(patient, clinician, [f"the {WORD} and the rash"], category="imaging", title="Scan report"),
        _indexed(other_patient, clinician, [f"{WORD} elsewhere"], title="Another organisation"),
    ]
    Document.objects.filter(pk=made[3].pk).update(deleted_at=timezone.now())
    return made


@pytest.mark.parametrize("q", [WORD, f"{WORD} rash", f"the {WORD}", f"{WORD} -rash", f'"{WORD} once"', "dabigatrn"])
@pytest.mark.parametrize(("offset", "limit"), [(0, 25), (0, 2), (1, 2), (4, 2), (40, 25)])
def test_the_patient_statement_answers_as_the_general_one(
    monkeypatch, clinician, billing_user, patient, documents, q, offset, limit
):
    for user in (clinician, billing_user):
        scope = SearchScope(patient_id=patient.pk)
        arguments = {"user": user, "q": q, "scope": scope, "offset": offset, "limit": limit}
        assert _seen(_search(monkeypatch, True, **arguments)) == _seen(_search(monkeypatch, False, **arguments))


def test_it_finds_what_it_should_and_loads_the_shown_documents_in_the_same_query(
    monkeypatch, clinician, patient, documents
):
    scope = SearchScope(patient_id=patient.pk)
    document_search(user=clinician, q=WORD, scope=scope)  # the organisation's configuration, cached
    with CaptureQueriesContext(connection) as general:
        _search(monkeypatch, False, user=clinician, q=WORD, scope=scope)
    with CaptureQueriesContext(connection) as own:
        results = _search(monkeypatch, True, user=clinician, q=WORD, scope=scope)
        shown = [(hit.document.title, hit.document.uploaded_by.email, hit.document.patient_id) for hit in results.hits]
    assert len(own) == len(general) - 1
    assert f"'{WORD}'" in own.captured_queries[-1]["sql"]  # logged with its values written in
    assert {title for title, _, _ in shown} == {"Clinic letter", "Claim", f"{WORD.capitalize()} plan", "Scan report"}
    assert ("Clinic letter", "uploader@example.test", patient.pk) in shown
    [letter] = [hit for hit in results.hits if hit.document.title == "Clinic letter"]
    assert (letter.page, letter.pages) == (3, [1, 3]) and f"<mark>{WORD}</mark>" in letter.snippet.lower()


def test_past_the_candidate_cap_the_general_statement_answers(monkeypatch, clinician, patient, documents):
    scope = SearchScope(patient_id=patient.pk)
    arguments = {"user": clinician, "q": WORD, "scope": scope, "candidates": 2}
    capped = _search(monkeypatch, True, **arguments)
    assert (capped.total, capped.total_exact) == (2, False)
    assert _seen(capped) == _seen(_search(monkeypatch, False, **arguments))


def _prepared() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s AND NOT from_sql",
            ["%pages AS MATERIALIZED%"],
        )
        return cursor.fetchone()[0]


def test_the_statement_is_prepared_once_per_shape_and_kept_on_the_connection(
    clinician, billing_user, patient, other_patient, documents
):
    scope = SearchScope(patient_id=patient.pk)
    document_search(user=clinician, q=WORD, scope=scope)
    prepared = _prepared()
    assert prepared >= 1
    for q in ("rash", f"{WORD} again", "nothing"):
        document_search(user=clinician, q=q, scope=scope)
    document_search(user=clinician, q=WORD, scope=SearchScope(patient_id=other_patient.pk))
    assert _prepared() == prepared  # the same text: other words and patients are values
    document_search(user=billing_user, q=WORD, scope=scope)  # billing's access rules: another text
    assert _prepared() in (prepared, prepared + 1)
