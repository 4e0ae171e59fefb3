"""Search ranks a bounded candidate set (docs/search.md, "Speed"): past the cap the total is a lower
bound said to be one, the candidates come only from documents the caller may see, and the page of
results shown still lists every matching page of each document."""

from __future__ import annotations

import pytest

from apps.documents.models import Document
from apps.documents.search.index import index_replace_pages
from apps.documents.search.query import SearchScope, document_search
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db

WORD = "rivaroxaban"


def _indexed(patient, user, pages: list[str], **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=pages, language="english")
    Document.objects.filter(pk=document.pk).update(text_status="done")
    return document


def test_past_the_candidate_cap_the_total_is_a_lower_bound_and_says_so(clinician, patient):
    for n in range(3):
        _indexed(patient, clinician, [f"{WORD} note {n}"], category="lab")
    capped = document_search(user=clinician, q=WORD, scope=SearchScope(), candidates=2)
    assert (capped.total, capped.total_exact, len(capped.hits)) == (2, False, 2)
    full = document_search(user=clinician, q=WORD, scope=SearchScope(), candidates=10)
    assert (full.total, full.total_exact, len(full.hits)) == (3, True, 3)


def test_documents_the_caller_may_not_see_never_take_a_candidate_place(clinician, billing_user, patient):
    # given many lab letters billing may not see, and one insurance letter it may
    for n in range(4):
        _indexed(patient, clinician, [f"{WORD} lab {n}"], category="lab")
    insurance = _indexed(patient, clinician, [f"{WORD} claim"], category="insurance")
    # then with a cap smaller than the hidden ones, billing still finds its one, counted exactly
    results = document_search(user=billing_user, q=WORD, scope=SearchScope(), candidates=2)
    assert ([hit.document.pk for hit in results.hits], results.total, results.total_exact) == ([insurance.pk], 1, True)


def test_a_shown_result_lists_every_matching_page_even_past_the_cap(clinician, patient):
    document = _indexed(patient, clinician, [f"{WORD} once", "nothing", f"{WORD} {WORD} twice", f"{WORD} again"])
    [hit] = document_search(user=clinician, q=WORD, scope=SearchScope(), candidates=1).hits
    assert hit.document == document and hit.pages == [1, 3, 4] and hit.page == 3
    assert f"<mark>{WORD}</mark>" in hit.snippet.lower()
