"""REST API for patients: organisation filtering, 404 for other organisations, errors with codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.patients.models import BreakGlassAccess, Patient
from tests import factories
from tests.audit.helpers import events, only_event

LIST = "/api/patients/"
NEW = {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1985-12-10", "sex": "female"}


def detail(patient_id) -> str:
    return f"/api/patients/{patient_id}/"


@pytest.fixture
def api(clinician):
    return factories.token_client(clinician)


def test_list_is_filtered_to_the_callers_organisation(api, patient, other_patient):
    response = api.get(LIST)

    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [str(patient.pk)]
    assert only_event("patient.searched").details["channel"] == "api"


@pytest.mark.parametrize(
    ("params", "count"),
    [({"q": "lovel"}, 1), ({"nhs_number": "943 476 5870"}, 1), ({"date_of_birth": "10/12/1985"}, 1), ({"q": "zzz"}, 0)],
    ids=["name", "nhs-spaces", "dob-uk", "no-match"],
)
def test_search_parameters(api, organisation, params, count):
    factories.make_patient(organisation, family_name="Lovelace", nhs_number="9434765870", date_of_birth="1985-12-10")

    response = api.get(LIST, params)

    assert response.status_code == 200 and response.json()["count"] == count


def test_unreadable_date_of_birth_parameter_is_400(api):
    response = api.get(LIST, {"date_of_birth": "yesterday"})

    assert response.status_code == 400
    assert "date_of_birth" in response.json()["detail"]["fields"]


def test_detail_records_a_view_with_request_facts(api, clinician, patient):
    response = api.get(detail(patient.pk), HTTP_X_REQUEST_ID="req-123", HTTP_USER_AGENT="integrator/1.0")

    assert response.status_code == 200
    assert response.json()["nhs_number"] == patient.nhs_number
    event = only_event("patient.viewed")
    assert (event.actor_id, event.actor_username, event.patient_id) == (clinician.pk, clinician.email, patient.pk)
    assert (event.request_id, event.user_agent, event.ip) == ("req-123", "integrator/1.0", "127.0.0.1")
    assert event.details == {"channel": "api"}


@pytest.mark.parametrize("method", ["get", "patch"])
def test_other_organisations_patient_is_404_and_audited(api, other_patient, method):
    response = getattr(api, method)(detail(other_patient.pk), {"family_name": "Changed"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": {"message": "No such patient.", "error_code": "not_found"}}
    other_patient.refresh_from_db()
    assert other_patient.family_name != "Changed"
    assert only_event("access.denied").details["reason"] == "not_found"
    assert events("patient.viewed") == events("patient.updated") == []


def test_create(api, clinician):
    response = api.post(LIST, {**NEW, "nhs_number": "943 476 5870", "date_of_birth": "10/12/1985"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["nhs_number"] == "9434765870" and body["date_of_birth"] == "1985-12-10"
    patient = Patient.objects.get(pk=body["id"])
    assert patient.organisation_id == clinician.organisation_id
    assert only_event("patient.created").patient_id == patient.pk


@pytest.mark.parametrize(
    ("nhs_number", "words"),
    [("9434765918", "check digit"), ("12345", "exactly 10 digits"), ("94347A5919", "only digits")],
    ids=["wrong-check-digit", "wrong-length", "letters"],
)
def test_create_with_invalid_nhs_number(api, nhs_number, words):
    response = api.post(LIST, {**NEW, "nhs_number": nhs_number}, format="json")

    assert response.status_code == 400
    body = response.json()["detail"]
    assert body["error_code"] == "invalid_nhs_number"
    assert words in body["fields"]["nhs_number"][0]
    assert not Patient.objects.exists()
    assert events("patient.created") == []


def test_create_with_duplicate_nhs_number_is_400_not_500(api, patient):
    response = api.post(LIST, {**NEW, "nhs_number": patient.nhs_number}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "duplicate_nhs_number"
    assert Patient.objects.count() == 1
    assert events("patient.created") == []


def test_same_nhs_number_in_another_organisation_is_allowed(api, other_patient):
    response = api.post(LIST, {**NEW, "nhs_number": other_patient.nhs_number}, format="json")

    assert response.status_code == 201


def test_patch_records_before_and_after(api, patient):
    response = api.patch(detail(patient.pk), {"mrn": "NEW-1"}, format="json")

    assert response.status_code == 200 and response.json()["mrn"] == "NEW-1"
    changes = only_event("patient.updated").details["changes"]
    assert changes == {"mrn": {"before": patient.mrn, "after": "NEW-1"}}


def test_patch_to_a_duplicate_nhs_number_is_refused(api, organisation, patient):
    second = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[2])

    response = api.patch(detail(second.pk), {"nhs_number": patient.nhs_number}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "duplicate_nhs_number"
    second.refresh_from_db()
    assert second.nhs_number == factories.VALID_NHS_NUMBERS[2]
    assert events("patient.updated") == []


def test_billing_may_read_but_not_write(billing_user, patient):
    api = factories.token_client(billing_user)

    assert api.get(LIST).status_code == 200
    assert api.get(detail(patient.pk)).status_code == 200
    created = api.post(LIST, NEW, format="json")
    patched = api.patch(detail(patient.pk), {"mrn": "X"}, format="json")

    assert created.status_code == 403 and created.json()["detail"]["error_code"] == "permission_denied"
    assert patched.status_code == 403
    assert Patient.objects.count() == 1
    assert [e.details["attempted"] for e in events("access.denied")] == ["patient.create", "edit"]


def test_restricted_record_break_glass_flow(api, clinician, organisation):
    restricted = factories.make_patient(organisation, restricted=True)

    listed = api.get(LIST).json()["results"]
    refused = api.get(detail(restricted.pk))
    bad_reason = api.post(f"{detail(restricted.pk)}break-glass/", {"reason": "now"}, format="json")
    granted = api.post(
        f"{detail(restricted.pk)}break-glass/", {"reason": "Unconscious in resus, allergies unknown"}, format="json"
    )
    opened = api.get(detail(restricted.pk))

    assert listed == [
        {
            "id": str(restricted.pk),
            "given_name": restricted.given_name,
            "family_name": restricted.family_name,
            "restricted": True,
            "can_open": False,
        }
    ]
    assert refused.status_code == 403 and refused.json()["detail"]["error_code"] == "break_glass_required"
    assert bad_reason.status_code == 400 and bad_reason.json()["detail"]["error_code"] == "invalid_reason"
    assert granted.status_code == 201
    assert opened.status_code == 200 and opened.json()["can_open"] is True
    assert only_event("patient.break_glass").object_id == str(granted.json()["id"])


def test_expired_grant_closes_the_record_again_on_the_api(api, clinician, organisation):
    restricted = factories.make_patient(organisation, restricted=True)
    BreakGlassAccess.objects.create(
        patient=restricted,
        user=clinician,
        reason="Earlier emergency review",
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    response = api.get(detail(restricted.pk))

    assert response.status_code == 403 and response.json()["detail"]["error_code"] == "break_glass_required"


def test_break_glass_on_an_unrestricted_record_is_409(api, patient):
    response = api.post(f"{detail(patient.pk)}break-glass/", {"reason": "Checking the allergies list"}, format="json")

    assert response.status_code == 409 and response.json()["detail"]["error_code"] == "not_restricted"
    assert not BreakGlassAccess.objects.exists()


def test_unauthenticated_is_401(client, patient):
    response = client.get(detail(patient.pk))

    assert response.status_code == 401
    assert response.json()["detail"]["error_code"] == "not_authenticated"
