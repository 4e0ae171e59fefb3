"""`DocumentReference?patient=…&_content=…`: words in documents' text, with every access rule of the list."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle

from apps.documents.models import Document
from apps.documents.search.index import index_replace_pages
from tests.documents.helpers import document_row
from tests.factories import make_patient, token_client

pytestmark = pytest.mark.django_db

URL = "/fhir/r4/DocumentReference"


@pytest.fixture(autouse=True)
def _fhir_settings(settings):
    settings.QUILL_PUBLIC_BASE_URL = "https://quill.example.test"
    settings.QUILL_FHIR_BASE_URL = ""


def _indexed(patient, user, text: str, **fields) -> Document:
    document = document_row(patient, user, **fields)
    index_replace_pages(document_id=document.pk, pages=["Cover", text], language="english")
    return document


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    bundle = Bundle.model_validate(response.json())
    return sorted(
        entry.resource.id for entry in bundle.entry or [] if entry.resource.__resource_type__ == "DocumentReference"
    )


def test_content_finds_documents_by_the_words_in_their_text(clinician, billing_user, organisation):
    patient = make_patient(organisation)
    letter = _indexed(patient, clinician, "Continue apixaban and review in six weeks", category="letter")
    claim = _indexed(patient, clinician, "Claim for apixaban reviews", category="insurance")
    _indexed(patient, clinician, "Nothing of interest")
    api = token_client(clinician, keyword="Bearer")
    assert _ids(api.get(URL, {"patient": str(patient.pk), "_content": "apixaban"})) == sorted(
        [str(letter.pk), str(claim.pk)]
    )
    # stemmed ("reviewing" finds "review" and "reviews"), and web search syntax
    assert len(_ids(api.get(URL, {"patient": str(patient.pk), "_content": "reviewing"}))) == 2
    assert _ids(api.get(URL, {"patient": str(patient.pk), "_content": "apixaban -claim"})) == [str(letter.pk)]
    # billing finds only the insurance document
    billing = token_client(billing_user, keyword="Bearer")
    assert _ids(billing.get(URL, {"patient": str(patient.pk), "_content": "apixaban"})) == [str(claim.pk)]


def test_an_empty_content_is_refused_not_ignored(clinician, patient):
    api = token_client(clinician, keyword="Bearer")
    response = api.get(URL, {"patient": str(patient.pk), "_content": " "}, HTTP_PREFER="handling=strict")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_declares_content(client, clinician):
    api = token_client(clinician, keyword="Bearer")
    statement = api.get("/fhir/r4/metadata").json()
    [resource] = [r for r in statement["rest"][0]["resource"] if r["type"] == "DocumentReference"]
    [param] = [p for p in resource["searchParam"] if p["name"] == "_content"]
    assert param["type"] == "string" and param["definition"].endswith("Resource-content")
