"""The compiled patient lookup (quill/compiled.py) returns what the ORM returns; finding by NHS number."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from apps.audit.models import AuditEvent
from apps.patients.access import PatientAction
from apps.patients.errors import BreakGlassRequired
from apps.patients.models import Patient
from apps.patients.selectors import PATIENT_LOOKUP, patient_by_nhs_number_for, patient_get_for
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


# --- by NHS number (the inbox's "another patient" when filing) -------------------------------------


def test_a_patient_is_found_by_nhs_number_typed_with_spaces(clinician, patient):
    found = patient_by_nhs_number_for(user=clinician, nhs_number="943 476 5919", action=PatientAction.VIEW)
    assert found == patient


def test_an_nhs_number_of_another_organisation_only_is_not_found_and_the_refusal_is_audited(clinician, other_patient):
    # given the number belongs to another organisation's patient
    with pytest.raises(NotFound, match="No patient of yours has that NHS number"):
        patient_by_nhs_number_for(user=clinician, nhs_number=other_patient.nhs_number, action=PatientAction.VIEW)
    # then the refusal is in the caller's audit trail, and names no patient
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor_id == clinician.pk and event.patient_id is None and event.details["attempted"] == "view"


def test_a_restricted_record_found_by_nhs_number_is_refused_as_by_id(clinician, organisation):
    restricted = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[2], restricted=True)
    with pytest.raises(BreakGlassRequired):
        patient_by_nhs_number_for(user=clinician, nhs_number=restricted.nhs_number, action=PatientAction.VIEW)
