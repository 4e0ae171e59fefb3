"""The input guard (quill/input_guard.py): what it refuses, how each family hears it, and what it lets through.

tests/test_bad_input.py sweeps every route; these name the cases one by one.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.patients.models import Patient
from tests import factories
from tests.documents.helpers import document_row


def _api_code(response) -> str:
    return response.json()["detail"]["error_code"]


def _outcome_code(response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


@pytest.mark.parametrize(
    "query",
    ["q=a%00b", "mrn=%00", "q=%ED%A0%80", "q=%C0%AF", "q%00=x", "date_of_birth=%FF"],
    ids=["nul", "nul-alone", "surrogate", "overlong", "nul-in-name", "not-utf8"],
)
def test_api_query_with_invalid_characters_is_refused(clinician, query):
    response = factories.token_client(clinician).get(f"/api/patients/?{query}")
    assert response.status_code == 400
    assert _api_code(response) == "invalid_characters"
    assert not AuditEvent.objects.filter(action="patient.searched").exists()


def test_the_refusal_names_the_parameter(clinician):
    response = factories.token_client(clinician).get("/api/audit/?actor=a%00b")
    assert response.status_code == 400
    assert "query parameter 'actor'" in response.json()["detail"]["message"]


@pytest.mark.parametrize(
    "body",
    [b'{"given_name": "A\\u0000"}', b'{"given_name": "\\ud800"}', b'{"given_name": "\xc0\xaf"}', b'{"\\u0000": "x"}'],
    ids=["nul", "lone-surrogate", "overlong", "nul-in-key"],
)
def test_api_json_with_invalid_characters_is_refused_and_nothing_stored(clinician, body):
    response = factories.token_client(clinician).generic("POST", "/api/patients/", body, "application/json")
    assert response.status_code == 400
    assert _api_code(response) == "invalid_characters"
    assert not Patient.objects.exists()


def test_api_form_body_is_not_read_by_a_json_operation_and_creates_nothing(clinician):
    response = factories.token_client(clinician).generic(
        "POST", "/api/patients/", b"given_name=A%00&family_name=B", "application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert _api_code(response) == "unsupported_media_type"
    assert not Patient.objects.exists()


def test_api_multipart_to_a_json_operation_is_not_read(clinician, patient):
    """PATCH takes JSON only; a NUL in an upload's multipart field is refused by quill.parsers
    (tests/documents/test_bulk.py, the NUL-in-a-title test)."""
    document = document_row(patient, clinician)
    client = factories.token_client(clinician)
    response = client.patch(f"/api/documents/{document.pk}/", {"title": "Scan\x00"}, format="multipart")
    assert response.status_code == 415
    assert _api_code(response) == "unsupported_media_type"
    document.refresh_from_db()
    assert document.title == "Report"


def test_fhir_refusal_is_an_operation_outcome(clinician):
    response = factories.token_client(clinician).get("/fhir/r4/Patient?identifier=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "invalid"
    assert _outcome_code(response) == "invalid_characters"


def test_fhir_chained_parameter_with_nul_is_refused(clinician):
    response = factories.token_client(clinician).get("/fhir/r4/DocumentReference?patient.identifier=%00")
    assert response.status_code == 400
    assert _outcome_code(response) == "invalid_characters"


def test_portal_search_with_nul_is_a_400_page(clinician):
    response = factories.signed_in_client(clinician).get("/patients/?q=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"cannot accept" in response.content


def test_portal_form_post_with_nul_is_refused(clinician, patient):
    client = factories.signed_in_client(clinician)
    response = client.post(f"/patients/{patient.pk}/edit/", {"given_name": "A\x00", "family_name": "B"})
    assert response.status_code == 400
    patient.refresh_from_db()
    assert "\x00" not in patient.given_name


def test_nul_in_the_address_is_refused(clinician):
    response = factories.token_client(clinician).get("/api/letters/%00/")
    assert response.status_code == 400
    assert _api_code(response) == "invalid_characters"


@pytest.mark.parametrize("header", ["HTTP_USER_AGENT", "HTTP_ACCEPT_LANGUAGE", "HTTP_PREFER"])
def test_nul_in_a_header_is_refused(clinician, header):
    response = factories.token_client(clinician).get("/api/patients/", **{header: "a\x00b"})
    assert response.status_code == 400
    assert _api_code(response) == "invalid_characters"


def test_nul_in_a_cookie_is_refused():
    """A session cookie is looked up in the database: a NUL in it would fail the query."""
    response = Client().get("/accounts/sign-in/", HTTP_COOKIE='sessionid="\\000\\000\\000\\000\\000\\000\\000\\000"')
    assert response.status_code == 400


def test_unknown_api_address_answers_in_the_api_shape(clinician):
    response = factories.token_client(clinician).get("/api/documents/not-a-uuid/")
    assert response.status_code == 404
    assert _api_code(response) == "not_found"


@pytest.mark.parametrize(
    "query",
    ["q=%C3%A9lodie", "q=%F0%9F%98%80", "q=O%27Brien", "q=%E2%80%8Bx"],
    ids=["accent", "emoji", "apostrophe", "zero-width-space"],
)
def test_ordinary_text_passes(clinician, query):
    """Accents, emoji, apostrophes and a zero-width space are text, not invalid characters."""
    response = factories.token_client(clinician).get(f"/api/patients/?{query}")
    assert response.status_code == 200


def test_json_emoji_as_a_surrogate_pair_passes(clinician):
    body = json.dumps({"given_name": "Zoë 😀", "family_name": "Example", "date_of_birth": "1980-01-01"}).encode()
    assert b"\\ud83d\\ude00" in body  # escaped as a (valid) pair
    response = factories.token_client(clinician).generic("POST", "/api/patients/", body, "application/json")
    assert response.status_code == 201, response.content
    assert Patient.objects.get().given_name == "Zoë 😀"


# --- digits that are not ASCII ("²" is a digit to str.isdigit, not to int) --------------------------


def test_audit_actor_of_unicode_digits_is_read_as_a_name(administrator):
    response = factories.token_client(administrator).get("/api/audit/?actor=%C2%B2")
    assert response.status_code == 200


def test_audit_actor_longer_than_any_id_matches_nobody(administrator):
    response = factories.token_client(administrator).get("/api/audit/?actor=" + "9" * 10_000)
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_nhs_number_of_unicode_digits_is_invalid(clinician):
    body = {"given_name": "A", "family_name": "B", "date_of_birth": "1980-01-01", "nhs_number": "²" * 10}
    response = factories.token_client(clinician).post("/api/patients/", body, format="json")
    assert response.status_code == 400
    assert _api_code(response) == "invalid_nhs_number"


@pytest.mark.parametrize("parameter", ["_count", "_offset"])
def test_fhir_paging_of_unicode_digits_is_refused(clinician, parameter):
    response = factories.token_client(clinician).get(f"/fhir/r4/Patient?{parameter}=%C2%B2")
    assert response.status_code == 400
    assert _outcome_code(response) == "invalid_search_parameter"


def test_fhir_page_size_of_ten_thousand_digits_is_capped(clinician):
    response = factories.token_client(clinician).get("/fhir/r4/Patient?_count=" + "9" * 10_000)
    assert response.status_code == 200
    assert response.json()["resourceType"] == "Bundle"


def test_fhir_offset_of_ten_thousand_digits_is_refused_like_any_offset(clinician):
    # Quill pages with cursors: _offset is refused whatever its value, before any number is read.
    response = factories.token_client(clinician).get("/fhir/r4/Patient?_offset=" + "9" * 10_000)
    assert response.status_code == 400
    assert _outcome_code(response) == "invalid_search_parameter"


# --- what the request id and user agent put into audit events --------------------------------------


def test_user_agent_control_characters_never_reach_an_audit_event(clinician):
    Client().post(
        "/accounts/sign-in/",
        {"username": clinician.email, "password": "wrong-password-entirely"},
        HTTP_USER_AGENT="Browser\r\nX-Injected: 1\t",
    )
    assert AuditEvent.objects.get(action="auth.login.failed").user_agent == "BrowserX-Injected: 1"
