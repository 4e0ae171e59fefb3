"""Every action in issue 3's list produces exactly one event, with the right fields."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from apps.accounts.services import api_token_create, api_token_revoke
from apps.audit.models import AuditEvent, ChainHead
from apps.patients.access import PatientAction
from apps.patients.selectors import patient_get_for
from apps.patients.services import patient_break_glass, patient_create, patient_update
from quill import request_context
from quill.errors import NotFound
from tests import factories
from tests.audit.helpers import events, only_event

FACTS = {"HTTP_USER_AGENT": "QuillTest/1.0", "HTTP_X_REQUEST_ID": "req-abc-123", "REMOTE_ADDR": "192.0.2.10"}


def assert_fields(event, *, actor, organisation, patient=None, object_type, object_id, outcome="success"):
    assert event.actor_id == (actor.pk if actor else None)
    assert event.actor_username == (actor.email if actor else event.actor_username)
    assert event.organisation_id == organisation.pk
    assert event.chain == str(organisation.pk)
    assert event.patient_id == (patient.pk if patient else None)
    assert (event.object_type, event.object_id, event.outcome) == (object_type, str(object_id), outcome)


def head_of(organisation_id) -> tuple[int, str] | None:
    head = ChainHead.objects.filter(chain=str(organisation_id)).first()
    return (head.sequence, head.hash) if head else None


def assert_request_facts(event):
    assert (event.ip, event.user_agent, event.request_id) == ("192.0.2.10", "QuillTest/1.0", "req-abc-123")


@pytest.fixture
def in_request():
    """Service calls made as if inside a request with known facts."""
    token = request_context.set_current(
        request_context.RequestFacts(request_id="req-abc-123", ip="192.0.2.10", user_agent="QuillTest/1.0")
    )
    yield
    request_context.reset(token)


def test_auth_login_succeeded(client, clinician, organisation):
    response = client.post(
        reverse("accounts:login"), {"username": clinician.email, "password": factories.PASSWORD}, **FACTS
    )

    assert response.status_code == 302
    event = only_event("auth.login.succeeded")
    assert_fields(event, actor=clinician, organisation=organisation, object_type="user", object_id=clinician.pk)
    assert_request_facts(event)
    assert AuditEvent.objects.count() == 1


def test_auth_login_failed_for_a_known_user(client, clinician, organisation):
    response = client.post(reverse("accounts:login"), {"username": clinician.email, "password": "wrong"}, **FACTS)

    assert response.status_code == 200
    event = only_event("auth.login.failed")
    assert_fields(
        event, actor=None, organisation=organisation, object_type="user", object_id=clinician.pk, outcome="denied"
    )
    assert event.actor_username == clinician.email and event.details == {"reason": "bad_credentials"}
    assert_request_facts(event)


def test_auth_login_failed_for_an_unknown_email_goes_to_the_platform_chain(client, db):
    client.post(reverse("accounts:login"), {"username": "nobody@example.test", "password": "wrong"}, **FACTS)

    event = only_event("auth.login.failed")
    assert (event.chain, event.organisation_id, event.actor_username) == ("platform", None, "nobody@example.test")


def test_auth_lockout(client, clinician, organisation, settings):
    # given the configured number of failures
    limit = settings.AXES_FAILURE_LIMIT
    responses = [
        client.post(reverse("accounts:login"), {"username": clinician.email, "password": "wrong"}, **FACTS)
        for _ in range(limit)
    ]

    # then the attempt that locks the account is recorded once as a lockout, the others as failures
    assert responses[-1].status_code == 429
    event = only_event("auth.lockout")
    assert_fields(
        event, actor=None, organisation=organisation, object_type="user", object_id=clinician.pk, outcome="denied"
    )
    assert_request_facts(event)
    assert len(events("auth.login.failed")) == limit - 1


def test_auth_totp_enrolled(client, organisation):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    administrator = factories.make_user(organisation, ["administrator"])  # must enrol before anything else
    signed_in = client.post(
        reverse("accounts:login"), {"username": administrator.email, "password": factories.PASSWORD}, **FACTS
    )
    assert signed_in["Location"] == reverse("accounts:enrol_totp")
    client.get(reverse("accounts:enrol_totp"), **FACTS)
    device = TOTPDevice.objects.get(user=administrator, confirmed=False)

    response = client.post(reverse("accounts:enrol_totp"), {"code": factories.current_totp_code(device)}, **FACTS)

    assert response.status_code == 302
    event = only_event("auth.totp.enrolled")
    assert_fields(event, actor=administrator, organisation=organisation, object_type="totp_device", object_id=device.pk)
    assert_request_facts(event)


def test_token_created_and_revoked(in_request, administrator, clinician, organisation):
    token, _key = api_token_create(user=clinician, name="EHR feed", actor=administrator)
    api_token_revoke(token=token, actor=administrator)
    api_token_revoke(token=token, actor=administrator)  # a second revoke changes nothing

    for action in ("token.created", "token.revoked"):
        event = only_event(action)
        assert_fields(
            event, actor=administrator, organisation=organisation, object_type="api_token", object_id=token.pk
        )
        assert_request_facts(event)


def test_patient_created(in_request, clinician, organisation):
    patient = patient_create(actor=clinician, given_name="Ada", family_name="Lovelace", date_of_birth="1985-12-10")

    event = only_event("patient.created")
    assert_fields(
        event, actor=clinician, organisation=organisation, patient=patient, object_type="patient", object_id=patient.pk
    )
    assert_request_facts(event)
    assert event.details["fields"]["family_name"] == {"before": None, "after": "Lovelace"}


def test_patient_updated(in_request, clinician, organisation, patient):
    patient_update(actor=clinician, patient=patient, fields={"given_name": "Renamed", "mrn": patient.mrn})

    event = only_event("patient.updated")
    assert_fields(
        event, actor=clinician, organisation=organisation, patient=patient, object_type="patient", object_id=patient.pk
    )
    assert_request_facts(event)
    assert list(event.details["changes"]) == ["given_name"]


def test_unchanged_update_records_nothing(clinician, patient):
    patient_update(actor=clinician, patient=patient, fields={"mrn": patient.mrn})

    assert events("patient.updated") == []


def test_patient_viewed_through_the_portal(clinician, organisation, patient):
    client = factories.signed_in_client(clinician)

    client.get(reverse("patients:detail", args=[patient.pk]), **FACTS)

    event = only_event("patient.viewed")
    assert_fields(
        event, actor=clinician, organisation=organisation, patient=patient, object_type="patient", object_id=patient.pk
    )
    assert_request_facts(event)


def test_patient_break_glass(in_request, clinician, organisation):
    restricted = factories.make_patient(organisation, restricted=True)

    grant = patient_break_glass(actor=clinician, patient=restricted, reason="Collapsed in clinic, needs history")

    event = only_event("patient.break_glass")
    assert_fields(
        event,
        actor=clinician,
        organisation=organisation,
        patient=restricted,
        object_type="break_glass_access",
        object_id=grant.pk,
    )
    assert_request_facts(event)


def test_access_denied(in_request, clinician, organisation, other_patient):
    with pytest.raises(NotFound):
        patient_get_for(user=clinician, patient_id=other_patient.pk, action=PatientAction.VIEW)

    event = only_event("access.denied")
    assert_fields(
        event,
        actor=clinician,
        organisation=organisation,
        object_type="patient",
        object_id=other_patient.pk,
        outcome="denied",
    )
    assert_request_facts(event)
    assert event.details == {"reason": "not_found", "attempted": "view"}
    assert not AuditEvent.objects.filter(chain=str(other_patient.organisation_id)).exists()


def test_rolled_back_change_leaves_no_event(clinician, patient):
    # given the chain as it is
    head_before = head_of(patient.organisation_id)
    family_before = patient.family_name

    # when an update succeeds but the surrounding transaction then fails
    with pytest.raises(RuntimeError), transaction.atomic():
        patient_update(actor=clinician, patient=patient, fields={"family_name": "Rolledback"})
        raise RuntimeError("something after the update failed")

    # then neither the change nor its event exists, and the chain head is unchanged
    patient.refresh_from_db()
    assert patient.family_name == family_before
    assert events("patient.updated") == []
    assert head_of(patient.organisation_id) == head_before


def test_failed_create_leaves_no_event(clinician, patient):
    from apps.patients.errors import DuplicateNhsNumber

    with pytest.raises(DuplicateNhsNumber):
        patient_create(
            actor=clinician, given_name="A", family_name="B", date_of_birth="1980-01-01", nhs_number=patient.nhs_number
        )

    assert events("patient.created") == []
