"""The restricted-record rule as raw SQL (`restricted_closed_sql`, for document search's statement) selects
exactly the patients the queryset form (`restricted_closed_to`) leaves open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.patients.access import restricted_closed_sql, restricted_closed_to
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient
from tests import factories

pytestmark = pytest.mark.django_db


def _open_by_sql(user) -> set:
    condition, params = restricted_closed_sql(user, "patient.id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT patient.id FROM patients_patient patient WHERE {condition}", params)  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


def test_the_sql_form_leaves_open_exactly_what_the_queryset_does(organisation, clinician):
    colleague = factories.make_user(organisation, ["clinician"], email="colleague@clinic.test")
    plain = factories.make_patient(organisation)
    closed = factories.make_patient(organisation, restricted=True)
    cared = factories.make_patient(organisation, restricted=True)
    granted = factories.make_patient(organisation, restricted=True)
    expired = factories.make_patient(organisation, restricted=True)
    CareTeamMember.objects.create(patient=cared, user=clinician)
    now = timezone.now()
    BreakGlassAccess.objects.create(patient=granted, user=clinician, reason="x", expires_at=now + timedelta(minutes=5))
    BreakGlassAccess.objects.create(patient=expired, user=clinician, reason="x", expires_at=now - timedelta(seconds=1))
    everyone = set(Patient.objects.values_list("pk", flat=True))
    for user in (clinician, colleague):
        expected = everyone - set(restricted_closed_to(user).values_list("pk", flat=True))
        assert _open_by_sql(user) == expected
    assert {plain.pk, cared.pk, granted.pk} <= _open_by_sql(clinician)
    assert closed.pk not in _open_by_sql(clinician) and expired.pk not in _open_by_sql(clinician)
    assert _open_by_sql(colleague) & {closed.pk, cared.pk, granted.pk, expired.pk} == set()
