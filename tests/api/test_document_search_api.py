"""`GET /api/documents/search`: results with snippets and pages, paging, refusals, and the audit."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.documents.search.index import index_replace_pages
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db

URL = "/api/documents/search"


def _indexed(patient, user, text: str, **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=["Cover", text], language="english")
    return document


def test_results_carry_the_document_its_pages_and_a_highlighted_snippet(clinician, patient):
    document = _indexed(patient, clinician, "Started apixaban 5 mg twice daily", title="Clinic letter")
    response = factories.token_client(clinician).get(URL, {"q": "apixaban", "patient_id": str(patient.pk)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None and body["count_exact"] is True
    [hit] = body["results"]
    assert hit["document"]["id"] == str(document.pk) and hit["document"]["title"] == "Clinic letter"
    assert hit["page"] == 2 and hit["pages"] == [2]
    assert "<mark>apixaban</mark>" in hit["snippet"]
    event = AuditEvent.objects.get(action="document.searched")
    assert event.details == {
        "query": "apixaban",
        "scope": {"patient_id": str(patient.pk)},
        "results": 1,
        "via": "api",
    }


def test_pages_link_to_each_other_and_a_page_past_the_last_is_404(clinician, patient):
    for n in range(3):
        _indexed(patient, clinician, f"apixaban review {n}")
    client = factories.token_client(clinician)
    first = client.get(URL, {"q": "apixaban", "page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and "page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert second["count"] == 3 and len(second["results"]) == 1 and second["next"] is None
    assert "page=" not in second["previous"]
    ids = {hit["document"]["id"] for hit in first["results"] + second["results"]}
    assert len(ids) == 3
    response = client.get(URL, {"q": "apixaban", "page_size": 2, "page": 3})
    assert response.status_code == 404 and response.json()["detail"]["error_code"] == "not_found"


def test_billing_counts_only_insurance_documents(clinician, billing_user, patient):
    _indexed(patient, clinician, "apixaban", category="lab")
    insurance = _indexed(patient, clinician, "apixaban claim", category="insurance")
    body = factories.token_client(billing_user).get(URL, {"q": "apixaban"}).json()
    assert body["count"] == 1 and [hit["document"]["id"] for hit in body["results"]] == [str(insurance.pk)]


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        pytest.param({}, 400, "invalid", "q", id="no-words"),
        pytest.param({"q": "  "}, 400, "invalid", "q", id="empty-words"),
        pytest.param({"q": "x" * 201}, 400, "max_length", "q", id="too-long"),
        pytest.param({"q": "a", "category": ""}, 400, "invalid", "category", id="empty-filter"),
        pytest.param({"q": "a", "category": "pets"}, 400, "invalid_choice", "category", id="unknown-category"),
        pytest.param({"q": "a", "date_from": "yesterday"}, 400, "invalid", "date_from", id="bad-date"),
        pytest.param({"q": "a", "patient_id": "nope"}, 400, "invalid", "patient_id", id="bad-patient-id"),
        pytest.param({"q": "a", "sort": "title"}, 400, "unknown_parameter", "sort", id="unknown-parameter"),
        pytest.param({"q": "a", "page": "0"}, 400, "invalid", "page", id="page-zero"),
    ],
)
def test_bad_parameters_are_refused_with_the_field_named(clinician, params, status, code, field):
    response = factories.token_client(clinician).get(URL, params)
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail["error_code"] == code and field in detail["fields"]
    assert not AuditEvent.objects.filter(action="document.searched").exists()


def test_another_organisations_patient_is_404_and_a_role_without_documents_403(clinician, organisation, other_patient):
    response = factories.token_client(clinician).get(URL, {"q": "a", "patient_id": str(other_patient.pk)})
    assert response.status_code == 404 and response.json()["detail"]["error_code"] == "not_found"
    nobody = factories.make_user(organisation, [])
    response = factories.token_client(nobody).get(URL, {"q": "a"})
    assert response.status_code == 403 and response.json()["detail"]["error_code"] == "permission_denied"
    assert not AuditEvent.objects.filter(action="document.searched").exists()


def test_the_operation_and_its_refusals_are_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/documents/search"]["get"]
    assert operation["operationId"] == "documents_search"
    assert {p["name"] for p in operation["parameters"]} >= {"q", "patient_id", "category", "date_from", "page"}
    assert {"200", "400", "403", "404"} <= set(operation["responses"])


def test_past_the_candidate_cap_the_count_says_it_is_a_lower_bound(clinician, patient, monkeypatch):
    from apps.documents.api import search as search_api
    from apps.documents.search.query import document_search

    for n in range(3):
        _indexed(patient, clinician, f"apixaban review {n}")
    monkeypatch.setattr(search_api, "document_search", lambda **kwargs: document_search(**kwargs, candidates=2))
    body = factories.token_client(clinician).get(URL, {"q": "apixaban"}).json()
    assert (body["count"], body["count_exact"], len(body["results"])) == (2, False, 2)
