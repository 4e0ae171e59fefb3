"""document_list: a patient's documents in the order asked for, and found by title."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.documents.models import Category
from apps.documents.selectors import DocumentFilters, DocumentSort, document_list
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(clinician, patient):
    """Three documents whose titles, categories and dates each sort differently."""
    document_row(patient, clinician, title="beta scan", category="imaging", document_date=date(2025, 1, 2))
    document_row(patient, clinician, title="Alpha letter", category="letter", document_date=date(2024, 5, 1))
    document_row(patient, clinician, title="gamma consent", category="consent", document_date=date(2025, 6, 1))


def _titles(user, patient, **filters) -> list[str]:
    found = document_list(user=user, filters=DocumentFilters(patient_id=patient.pk, **filters))
    return [document.title for document in found]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (DocumentSort.DATE_NEWEST, ["gamma consent", "beta scan", "Alpha letter"]),
        (DocumentSort.DATE_OLDEST, ["Alpha letter", "beta scan", "gamma consent"]),
        (DocumentSort.TITLE_A_Z, ["Alpha letter", "beta scan", "gamma consent"]),
        (DocumentSort.TITLE_Z_A, ["gamma consent", "beta scan", "Alpha letter"]),
        (DocumentSort.CATEGORY_A_Z, ["gamma consent", "beta scan", "Alpha letter"]),
        (DocumentSort.CATEGORY_Z_A, ["Alpha letter", "beta scan", "gamma consent"]),
    ],
    ids=["date-newest", "date-oldest", "title-a-z", "title-z-a", "category-a-z", "category-z-a"],
)
def test_each_column_sorts_both_ways(three, clinician, patient, sort, expected):
    assert _titles(clinician, patient, sort=sort) == expected


def test_titles_sort_without_regard_to_case(clinician, patient):
    for title in ("b", "C", "a", "B"):
        document_row(patient, clinician, title=title)

    assert [title.lower() for title in _titles(clinician, patient, sort=DocumentSort.TITLE_A_Z)] == ["a", "b", "b", "c"]


@pytest.mark.parametrize("sort", list(DocumentSort), ids=[sort.value for sort in DocumentSort])
def test_equal_values_keep_one_order_newest_first_then_by_id(clinician, patient, sort):
    # given documents equal in title, category and clinical date, two of them uploaded at the same instant
    now = timezone.now()
    same = {"title": "Same", "category": "lab", "document_date": date(2025, 1, 1)}
    older = document_row(patient, clinician, uploaded_at=now - timedelta(hours=1), **same)
    twins = sorted((document_row(patient, clinician, uploaded_at=now, **same) for _ in range(2)), key=lambda d: d.pk)
    found = list(document_list(user=clinician, filters=DocumentFilters(patient_id=patient.pk, sort=sort)))
    # then the tiebreak decides, the same way on every call: by upload time, then by id
    expected = [older, *twins] if sort == DocumentSort.DATE_OLDEST else [*reversed(twins), older]
    assert [document.pk for document in found] == [document.pk for document in expected]


def test_category_codes_sort_as_their_labels():
    """The category sort orders by code; people read the labels, so the two orders must agree."""
    by_code = [value for value, _label in sorted(Category.choices)]
    by_label = [value for value, label in sorted(Category.choices, key=lambda choice: str(choice[1]).casefold())]
    assert by_code == by_label


def test_title_search_ignores_case_matches_anywhere_and_combines_with_filters(clinician, patient):
    document_row(patient, clinician, title="Discharge SUMMARY", category="letter")
    document_row(patient, clinician, title="Clinic summary", category="lab")
    document_row(patient, clinician, title="Blood results", category="lab")

    assert sorted(_titles(clinician, patient, title="summary")) == ["Clinic summary", "Discharge SUMMARY"]
    assert _titles(clinician, patient, title="summary", category="lab") == ["Clinic summary"]
    assert _titles(clinician, patient, title="x-ray") == []


def test_title_search_does_not_match_the_file_name(clinician, patient):
    document_row(patient, clinician, title="Blood results")  # its file is report.pdf

    assert _titles(clinician, patient, title="report") == []
