"""What the API refuses rather than guesses at (the schema's promises, tested without a live server)."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.letters.models import Letter
from apps.patients.models import Patient
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document


@pytest.fixture
def api(clinician):
    return factories.token_client(clinician)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/documents/?category=&date_from=", "category"),
        ("/api/documents/?q=%20", "q"),
        ("/api/patients/?q=", "q"),
        ("/api/patients/?date_of_birth=", "date_of_birth"),
    ],
    ids=["documents-category", "documents-spaces", "patients-q", "patients-dob"],
)
def test_an_empty_filter_is_refused_not_ignored(api, patient, url, field):
    response = api.get(url)
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "invalid"
    assert field in response.json()["detail"]["fields"]


def test_an_empty_audit_filter_is_refused(administrator):
    response = factories.token_client(administrator).get("/api/audit/?actor=")
    assert response.status_code == 400
    assert list(response.json()["detail"]["fields"]) == ["actor"]


def test_an_audit_date_with_a_large_offset_is_read_not_a_server_error(administrator):
    response = factories.token_client(administrator).get("/api/audit/", {"date_from": "0470-06-10T01:20:39-16:02"})
    assert response.status_code == 200


@pytest.mark.parametrize("page_size", ["0", "201", "ten", "-1"])
def test_a_page_size_outside_1_to_200_is_refused(api, patient, page_size):
    response = api.get("/api/patients/", {"page_size": page_size})
    assert response.status_code == 400
    assert list(response.json()["detail"]["fields"]) == ["page_size"]


def test_a_form_body_to_the_letters_endpoint_is_refused_and_no_draft_is_made(api, patient):
    response = api.post(f"/api/patients/{patient.pk}/letters/", {"garbage": "x"}, format="multipart")
    assert response.status_code == 415
    assert response.json()["detail"]["error_code"] == "unsupported_media_type"
    assert not Letter.objects.exists()


def test_unknown_keys_in_a_json_body_are_refused(api, patient):
    response = api.patch(f"/api/patients/{patient.pk}/", {"given_name": "Ada", "nickname": "A"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "unknown_field"
    assert list(response.json()["detail"]["fields"]) == ["nickname"]
    patient.refresh_from_db()
    assert patient.given_name != "Ada"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"family_name": 7}, "family_name"), ({"restricted": "true"}, "restricted")],
    ids=["number-for-text", "text-for-boolean"],
)
def test_a_json_value_of_the_wrong_type_is_refused_not_converted(api, patient, body, field):
    response = api.patch(f"/api/patients/{patient.pk}/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["detail"]["fields"]) == [field]
    assert Patient.objects.get(pk=patient.pk).restricted is False


def test_a_blank_reason_does_not_delete(filesystem_storage, clinician, administrator, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = factories.token_client(administrator).delete(f"/api/documents/{document.pk}/?reason=%20%20%20%20%20a")
    assert response.status_code == 400
    assert Document.objects.get(pk=document.pk).deleted_at is None
    assert not AuditEvent.objects.filter(action="document.deleted").exists()


def test_an_unknown_api_url_answers_the_api_404(api):
    response = api.get("/api/documents/not-an-id/")
    assert response.status_code == 404
    assert response.json() == {"detail": {"message": "Not found.", "error_code": "not_found"}}


def test_options_is_not_part_of_the_api(api):
    response = api.options("/api/patients/")
    assert response.status_code == 405
    assert response.json()["detail"]["error_code"] == "method_not_allowed"


@pytest.mark.parametrize("page", ["0", "1000000000", "9" * 10_000])
def test_a_page_number_outside_what_the_schema_allows_is_refused_not_a_500(api, patient, page):
    response = api.get("/api/patients/", {"page": page})

    assert response.status_code == 400
    assert list(response.json()["detail"]["fields"]) == ["page"]


def test_a_page_number_the_schema_allows_past_the_last_page_is_not_found(api, patient):
    response = api.get("/api/patients/", {"page": "999999999"})

    assert response.status_code == 404
