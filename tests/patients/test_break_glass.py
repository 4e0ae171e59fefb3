"""Restricted records: care team, break-glass with a reason, expiry, and the event administrators can list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from apps.patients.access import PatientAction
from apps.patients.errors import BreakGlassReasonInvalid, BreakGlassRequired, RestrictedRecord, RoleRequired
from apps.patients.models import BreakGlassAccess, CareTeamMember
from apps.patients.selectors import patient_get_for, patients_visible_to
from apps.patients.services import patient_break_glass, patient_care_team_add
from tests import factories
from tests.audit.helpers import events, only_event

REASON = "Seen in A&E tonight, needs medication history"


@pytest.fixture
def restricted(organisation):
    return factories.make_patient(organisation, restricted=True, family_name="Hidden")


def test_restricted_record_needs_break_glass_and_the_refusal_is_audited(clinician, restricted):
    with pytest.raises(BreakGlassRequired) as refused:
        patient_get_for(user=clinician, patient_id=restricted.pk, action=PatientAction.VIEW)

    assert refused.value.http_status == 403 and refused.value.error_code == "break_glass_required"
    denial = only_event("access.denied")
    assert denial.patient_id == restricted.pk and denial.details["reason"] == "break_glass_required"
    assert restricted not in patients_visible_to(clinician)


def test_care_team_member_opens_restricted_record(clinician, administrator, restricted):
    patient_care_team_add(actor=administrator, patient=restricted, member=clinician)

    opened = patient_get_for(user=clinician, patient_id=restricted.pk, action=PatientAction.VIEW)

    assert opened == restricted
    assert restricted in patients_visible_to(clinician)
    assert only_event("patient.care_team.added").details["member"] == clinician.email


def test_managers_are_not_automatically_on_the_care_team(administrator, restricted):
    with pytest.raises(BreakGlassRequired):
        patient_get_for(user=administrator, patient_id=restricted.pk, action=PatientAction.VIEW)
    # but they may read the access report without opening the record
    assert patient_get_for(user=administrator, patient_id=restricted.pk, action=PatientAction.ACCESS_REPORT)


def test_billing_can_never_open_or_break_glass(billing_user, restricted):
    with pytest.raises(RestrictedRecord):
        patient_get_for(user=billing_user, patient_id=restricted.pk, action=PatientAction.VIEW)
    with pytest.raises(RoleRequired):
        patient_break_glass(actor=billing_user, patient=restricted, reason=REASON)

    assert not BreakGlassAccess.objects.exists()
    assert events("patient.break_glass") == []


@override_settings(QUILL_BREAK_GLASS_MINUTES=15)
def test_break_glass_opens_for_the_configured_time_and_is_recorded(clinician, restricted):
    before = timezone.now()

    grant = patient_break_glass(actor=clinician, patient=restricted, reason=REASON)

    assert timedelta(minutes=15) <= grant.expires_at - before < timedelta(minutes=15, seconds=5)
    assert patient_get_for(user=clinician, patient_id=restricted.pk, action=PatientAction.VIEW) == restricted
    event = only_event("patient.break_glass")
    assert (event.actor_id, event.patient_id, event.object_type, event.object_id) == (
        clinician.pk,
        restricted.pk,
        "break_glass_access",
        str(grant.pk),
    )
    assert event.details["reason"] == REASON


def test_expired_grant_is_honoured(clinician, restricted):
    # given a grant whose time has passed
    BreakGlassAccess.objects.create(
        patient=restricted,
        user=clinician,
        reason=REASON,
        granted_at=timezone.now() - timedelta(minutes=61),
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    # then the record is closed again
    with pytest.raises(BreakGlassRequired):
        patient_get_for(user=clinician, patient_id=restricted.pk, action=PatientAction.VIEW)
    assert restricted not in patients_visible_to(clinician)


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "because", "aaaaaaaaaaaa", "1234567890123"],
    ids=["empty", "blank", "too-short", "one-letter-repeated", "digits-only"],
)
def test_break_glass_reason_must_be_meaningful(clinician, restricted, reason):
    with pytest.raises(BreakGlassReasonInvalid) as refused:
        patient_break_glass(actor=clinician, patient=restricted, reason=reason)

    assert refused.value.error_code == "invalid_reason"
    assert not BreakGlassAccess.objects.exists()
    assert events("patient.break_glass") == []


def test_portal_break_glass_flow(clinician, restricted):
    client = factories.signed_in_client(clinician)
    page_url = reverse("patients:detail", args=[restricted.pk])

    # the list names the record (so it can be found) but hides its details
    listing = client.get(reverse("patients:list"))
    assert b"HIDDEN" in listing.content and restricted.mrn.encode() not in listing.content

    # opening it asks for the glass to be broken
    refused = client.get(page_url)
    assert refused.status_code == 403
    assert reverse("patients:break_glass", args=[restricted.pk]).encode() in refused.content

    # a too-short reason is refused with a plain message, and nothing is granted
    short = client.post(reverse("patients:break_glass", args=[restricted.pk]), {"reason": "urgent"})
    assert short.status_code == 400 and b"10 characters at least" in short.content
    assert not BreakGlassAccess.objects.exists()

    # a real reason opens it
    opened = client.post(reverse("patients:break_glass", args=[restricted.pk]), {"reason": REASON})
    assert opened.status_code == 302 and opened["Location"] == page_url
    page = client.get(page_url)
    assert page.status_code == 200 and b"You broke the glass" in page.content
    assert only_event("patient.break_glass").details["reason"] == REASON
    assert only_event("patient.viewed").patient_id == restricted.pk


def test_administrators_can_list_break_glass_events(administrator, clinician, restricted, other_organisation):
    patient_break_glass(actor=clinician, patient=restricted, reason=REASON)
    outsider_patient = factories.make_patient(other_organisation, restricted=True, family_name="Elsewhere")
    outsider = factories.make_user(other_organisation, ["clinician"])
    patient_break_glass(actor=outsider, patient=outsider_patient, reason=REASON)

    response = factories.signed_in_client(administrator).get(reverse("break_glass_log"))

    assert response.status_code == 200
    assert clinician.email.encode() in response.content and REASON.encode() in response.content.replace(b"&amp;", b"&")
    assert b"Elsewhere" not in response.content


def test_clinicians_cannot_list_break_glass_events(clinician):
    response = factories.signed_in_client(clinician).get(reverse("break_glass_log"))

    assert response.status_code == 403
    assert only_event("access.denied").details["reason"] == "role_required"


def test_restricting_a_record_puts_the_editor_on_its_care_team(clinician, patient):
    from apps.patients.services import patient_update

    patient_update(actor=clinician, patient=patient, fields={"restricted": True})

    assert CareTeamMember.objects.filter(patient=patient, user=clinician).exists()
    assert patient_get_for(user=clinician, patient_id=patient.pk, action=PatientAction.VIEW) == patient
