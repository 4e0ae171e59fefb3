"""The organisation-wide document list can walk `document_organisation_list` instead of sorting.

A handful of rows says nothing about speed, and on so few the planner rightly prefers a
sequential scan; so each test switches the alternatives off and asks PostgreSQL how it would
answer the API's own query without them. If a change to the list's filters or order stops the
index from matching, the page needs a (disabled) sort and the test fails. Timings at
1,000,000 documents were measured separately, not here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.documents.helpers import document_row
from tests.factories import make_patient, make_user, token_client

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's"),
]

INDEX = "document_organisation_list"

LISTS = pytest.mark.parametrize(
    ("role", "params"),
    [
        ("clinician", {}),
        ("clinician", {"date_from": "2024-01-01", "date_to": "2024-03-31"}),
        ("clinician", {"scan_status": "clean"}),
        ("billing", {}),
    ],
    ids=["unfiltered", "date-range", "scan-status", "billing-categories-only"],
)
# category and scan_status are not in the index: those counts read the table.
COUNTED = pytest.mark.parametrize(
    "params",
    [{}, {"date_from": "2024-01-01", "date_to": "2024-03-31"}],
    ids=["unfiltered", "date-range"],
)


def _organisation_wide_queries(user, params: dict) -> tuple[str, str]:
    """The COUNT and the page query the API sends for the list without a patient."""
    with CaptureQueriesContext(connection) as context:
        response = token_client(user).get("/api/documents/", params)
    assert response.status_code == 200, response.content
    assert response.json()["count"] > 0
    reads = [q["sql"] for q in context.captured_queries if 'FROM "documents_document"' in q["sql"]]
    (count_sql,) = [sql for sql in reads if sql.startswith("SELECT COUNT(*)")]
    (page_sql,) = [sql for sql in reads if sql.startswith('SELECT "documents_document"."id"')]
    return count_sql, page_sql


def _plan_with(sql: str, *, disabled: tuple[str, ...]) -> dict:
    settings = [f"enable_{name}" for name in disabled]
    with connection.cursor() as cursor:
        try:
            for setting in settings:
                cursor.execute(f"SET {setting} = off")
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            (row,) = cursor.fetchall()
        finally:
            for setting in settings:
                cursor.execute(f"RESET {setting}")
    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    return plan[0]["Plan"]


def _nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _document_scans(plan: dict) -> list[tuple[str, str | None]]:
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in _nodes(plan)
        if node.get("Relation Name") == "documents_document"
    ]


@pytest.fixture
def listed_documents(organisation, clinician):
    """Documents of two patients over two years, one of them insurance (what billing staff see)."""
    uploader = make_user(organisation, ["clinician"], email="uploader@example.test")
    for n, patient in enumerate([make_patient(organisation), make_patient(organisation)]):
        document_row(patient, uploader, category="lab", document_date=date(2023, 6, 1 + n))
        document_row(patient, uploader, category="imaging", document_date=date(2024, 2, 1 + n))
        document_row(patient, uploader, category="insurance", document_date=date(2024, 3, 1 + n))


@LISTS
def test_the_organisation_wide_page_walks_the_index_in_order_without_a_sort(
    listed_documents, organisation, clinician, billing_user, role, params
):
    # given the page query the API sends for the list without a patient
    user = {"clinician": clinician, "billing": billing_user}[role]
    _, page_sql = _organisation_wide_queries(user, params)

    # when the planner may neither scan the whole table nor sort
    plan = _plan_with(page_sql, disabled=("seqscan", "bitmapscan", "sort", "incremental_sort"))

    # then it reads the documents through the list's index, already in the list's order
    assert _document_scans(plan) == [("Index Scan", INDEX)]
    assert not [node["Node Type"] for node in _nodes(plan) if "Sort" in node["Node Type"]]


@COUNTED
@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside the test's transaction
def test_the_organisation_wide_count_reads_only_the_index(listed_documents, clinician, params):
    # given the COUNT the API sends for the same list, on a vacuumed table (as autovacuum keeps a real one)
    count_sql, _ = _organisation_wide_queries(clinician, params)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE documents_document")

    # when the planner may neither scan the whole table nor build a bitmap
    plan = _plan_with(count_sql, disabled=("seqscan", "bitmapscan"))

    # then it counts from the index alone: it holds purged_at (in its condition) and patient_id
    # (for the restricted-record rule), so no row of the table is read
    assert _document_scans(plan) == [("Index Only Scan", INDEX)]
