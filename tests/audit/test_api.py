"""GET /api/audit/: administrators and owners, own organisation only, filters, paginated, refusals audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from tests import factories
from tests.audit.helpers import only_event

URL = "/api/audit/"


@pytest.fixture
def recorded(organisation, other_organisation, clinician, patient):
    audit_record(action="patient.viewed", actor=clinician, patient_id=patient.pk)
    audit_record(action="patient.updated", actor=clinician, patient_id=patient.pk)
    audit_record(action="auth.login.succeeded", actor=clinician)
    audit_record(action="patient.viewed", organisation_id=other_organisation.pk)


@pytest.mark.parametrize("role", ["administrator", "owner"])
def test_managers_read_their_own_organisation_only(recorded, organisation, role):
    manager = factories.make_user(organisation, [role], totp=True)

    response = factories.token_client(manager).get(URL)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["organisation_id"] for row in rows} == {str(organisation.pk)}
    assert [row["sequence"] for row in rows] == sorted((row["sequence"] for row in rows), reverse=True)
    assert {"hash", "prev_hash", "request_id", "ip", "user_agent", "details"} <= set(rows[0])
    assert only_event("audit.searched").actor_id == manager.pk


@pytest.mark.parametrize("role", ["clinician", "billing"])
def test_others_are_refused_and_the_refusal_is_audited(recorded, organisation, role):
    user = factories.make_user(organisation, [role])

    response = factories.token_client(user).get(URL)

    assert response.status_code == 403
    assert response.json()["detail"]["error_code"] == "permission_denied"
    denial = only_event("access.denied")
    assert denial.actor_id == user.pk and denial.details == {
        "reason": "role_required",
        "attempted": "audit.list",
        "route": "api-audit-events",
    }


def test_filters(recorded, administrator, clinician, patient):
    api = factories.token_client(administrator)

    by_patient = api.get(URL, {"patient_id": str(patient.pk)}).json()["results"]
    by_actor_id = api.get(URL, {"actor": str(clinician.pk)}).json()["results"]
    by_actor_email = api.get(URL, {"actor": clinician.email.upper()}).json()["results"]
    by_action = api.get(URL, {"action": "patient.updated"}).json()["results"]
    by_prefix = api.get(URL, {"action": "patient.*"}).json()["results"]

    assert {row["action"] for row in by_patient} == {"patient.viewed", "patient.updated"}
    assert len(by_actor_id) == len(by_actor_email) == 3
    assert [row["action"] for row in by_action] == ["patient.updated"]
    assert {row["action"] for row in by_prefix} == {"patient.viewed", "patient.updated"}


def test_date_filters(recorded, administrator):
    api = factories.token_client(administrator)
    today = timezone.localdate().isoformat()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    including_today = api.get(URL, {"date_from": today, "date_to": today, "action": "patient.viewed"}).json()
    from_tomorrow = api.get(URL, {"date_from": tomorrow}).json()

    assert including_today["count"] == 1
    assert from_tomorrow["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [({"patient_id": "not-a-uuid"}, "patient_id"), ({"date_from": "last tuesday"}, "date_from")],
    ids=["bad-patient-id", "bad-date"],
)
def test_unreadable_filters_are_400(administrator, params, field):
    response = factories.token_client(administrator).get(URL, params)

    assert response.status_code == 400
    assert field in response.json()["detail"]["fields"]
    assert not AuditEvent.objects.filter(action="audit.searched").exists()


def test_paginated(administrator, organisation):
    for _ in range(30):
        audit_record(action="patient.viewed", organisation_id=organisation.pk)

    response = factories.token_client(administrator).get(URL, {"page_size": 10})

    body = response.json()
    assert len(body["results"]) == 10 and body["count"] >= 31 and body["next"]
