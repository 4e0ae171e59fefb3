"""The compiled patient lookup (quill/compiled.py) returns what the ORM returns."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import PATIENT_LOOKUP, patient_get_for
from quill.errors import NotFound
from tests import factories

pytestmark = pytest.mark.django_db


def _columns(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_compiled_patient_lookup_returns_what_the_orm_returns(organisation):
    patient = factories.make_patient(organisation, date_of_birth=date(1961, 2, 28), restricted=True)
    Patient.objects.filter(pk=patient.pk).update(last_clinical_date=date(2024, 5, 6))

    compiled, orm = PATIENT_LOOKUP.get(patient.pk), PATIENT_LOOKUP.orm(patient.pk)

    assert compiled is not None and orm is not None
    assert _columns(compiled) == _columns(orm)
    assert compiled.last_clinical_date == date(2024, 5, 6) and compiled.restricted is True
    assert PATIENT_LOOKUP.get(uuid.uuid4()) is None and PATIENT_LOOKUP.orm(uuid.uuid4()) is None


def test_another_organisation_s_patient_is_not_found(clinician, other_patient):
    with pytest.raises(NotFound):
        patient_get_for(user=clinician, patient_id=other_patient.pk, action=PatientAction.VIEW)
