"""The admin shows audit events read-only, and break-glass openings, to the organisation's managers."""

from __future__ import annotations

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.patients.services import patient_break_glass
from tests import factories


def test_audit_events_are_listed_read_only(administrator, organisation, other_organisation):
    mine = audit_record(action="patient.viewed", organisation_id=organisation.pk)
    theirs = audit_record(action="patient.viewed", organisation_id=other_organisation.pk)
    client = factories.signed_in_client(administrator)

    listing = client.get(reverse("admin:audit_auditevent_changelist"))
    add = client.get(reverse("admin:audit_auditevent_add"))
    delete = client.post(reverse("admin:audit_auditevent_delete", args=[mine.pk]), {"post": "yes"})
    change = client.post(reverse("admin:audit_auditevent_change", args=[mine.pk]), {"action": "edited"})
    other = client.get(reverse("admin:audit_auditevent_change", args=[theirs.pk]))

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert add.status_code == 403 and delete.status_code == 403
    assert change.status_code == 403  # view-only: no change permission
    assert other.status_code == 302  # another organisation's event "does not exist" here
    assert AuditEvent.objects.get(pk=mine.pk).action == "patient.viewed"


def test_break_glass_openings_are_listed(administrator, clinician, organisation):
    restricted = factories.make_patient(organisation, restricted=True)
    patient_break_glass(actor=clinician, patient=restricted, reason="Urgent review of medication list")
    client = factories.signed_in_client(administrator)

    response = client.get(reverse("admin:patients_breakglassaccess_changelist"))

    assert response.status_code == 200
    assert b"Urgent review of medication list" in response.content


def test_clinicians_cannot_reach_the_admin_lists(clinician):
    response = factories.signed_in_client(clinician).get(reverse("admin:audit_auditevent_changelist"))

    assert response.status_code == 302  # not staff: sent to sign in
