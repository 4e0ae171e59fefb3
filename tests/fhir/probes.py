"""One organisation's data for the FHIR sweeps, and a probe per search parameter that finds it.

``test_tenancy.py`` sends each probe with another organisation's token (nothing may come
back); ``test_capability.py`` sends it for every parameter the CapabilityStatement declares
(each must be applied). A parameter added to a search table needs a probe here: both
sweeps fail until it has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from apps.documents.search.index import index_replace_pages
from apps.fhir import codes
from apps.fhir.models import CONFIDENTIALITY_SYSTEM, MhdSettings, SubmissionSet, SubmissionSetEntry
from apps.fhir.search import ResourceSearch
from tests.documents.helpers import document_row
from tests.factories import VALID_NHS_NUMBERS, make_patient, make_user

PUBLIC_BASE = "https://quill.example.test"
FHIR = "/fhir/r4"


@dataclass(frozen=True)
class World:
    """One organisation's patient, document and SubmissionSet, with the values that identify them."""

    patient_id: str
    document_id: str
    list_id: str
    nhs_number: str
    mrn: str
    given: str
    family: str
    author_given: str
    author_family: str
    encounter_id: str
    list_unique_id: str

    def own_id(self, resource_type: str) -> str:
        return {"Patient": self.patient_id, "DocumentReference": self.document_id, "List": self.list_id}[resource_type]

    def markers(self) -> dict[str, str]:
        """Strings that name this organisation's data: none may reach another organisation."""
        return {
            "patient id": self.patient_id,
            "document id": self.document_id,
            "list id": self.list_id,
            "NHS number": self.nhs_number,
            "MRN": self.mrn,
            "family name": self.family,
            "author": self.author_family,
            "encounter": self.encounter_id,
            "SubmissionSet uniqueId": self.list_unique_id,
        }


Probe = Callable[[World], str]


def param_names(search: ResourceSearch) -> list[str]:
    """Every parameter of a search table, and each with every modifier it takes."""
    names = []
    for name, rule in search.params.items():
        names.append(name)
        names += [f"{name}:{modifier}" for modifier in sorted(rule.modifiers)]
    return names


# One probe per parameter (with its modifier), each matching the World's own resource.
PROBES: dict[str, dict[str, Probe]] = {
    "DocumentReference": {
        "_id": lambda w: w.document_id,
        "identifier": lambda w: f"{codes.URI_SYSTEM}|urn:uuid:{w.document_id}",
        "patient": lambda w: f"Patient/{w.patient_id}",
        "patient.identifier": lambda w: f"{codes.NHS_NUMBER_SYSTEM}|{w.nhs_number}",
        "status": lambda w: "current",
        "category": lambda w: f"{codes.QUILL_CATEGORY_SYSTEM}|lab",
        "type": lambda w: f"{codes.LOINC_SYSTEM}|11502-2",
        "date": lambda w: "ge2000-01-01",
        "_lastUpdated": lambda w: "ge2000-01-01",
        "creation": lambda w: "2024-03-05",
        "period": lambda w: "ge2024-03-01,le2024-03-31",
        "author.given": lambda w: w.author_given[:4],
        "author.given:exact": lambda w: w.author_given,
        "author.given:contains": lambda w: w.author_given[2:6],
        "author.family": lambda w: w.author_family[:5],
        "author.family:exact": lambda w: w.author_family,
        "author.family:contains": lambda w: w.author_family[3:7],
        "event": lambda w: "http://snomed.info/sct|72705000",
        "facility": lambda w: "http://snomed.info/sct|22232009",
        "setting": lambda w: "http://snomed.info/sct|394585009",
        "security-label": lambda w: f"{CONFIDENTIALITY_SYSTEM}|R",
        "format": lambda w: f"{codes.MIME_TYPE_SUFFICIENT.system}|{codes.MIME_TYPE_SUFFICIENT.code}",
        "related": lambda w: f"Encounter/{w.encounter_id}",
        "related:identifier": lambda w: f"{codes.QUILL_ENCOUNTER_SYSTEM}|{w.encounter_id}",
        "_content": lambda w: "ferritin",
    },
    "Patient": {
        "_id": lambda w: w.patient_id,
        "identifier": lambda w: f"{codes.NHS_NUMBER_SYSTEM}|{w.nhs_number}",
        "family": lambda w: w.family[:6],
        "family:exact": lambda w: w.family,
        "family:contains": lambda w: w.family[3:8],
        "given": lambda w: w.given[:4],
        "given:exact": lambda w: w.given,
        "given:contains": lambda w: w.given[2:6],
        "name": lambda w: w.family[:6],
        "name:exact": lambda w: w.given,
        "name:contains": lambda w: w.family[3:8],
        "birthdate": lambda w: "1961-07-19",
        "gender": lambda w: "female",
        "_lastUpdated": lambda w: "ge2000-01-01",
    },
    "List": {
        "_id": lambda w: w.list_id,
        "patient": lambda w: f"{PUBLIC_BASE}/fhir/r4/Patient/{w.patient_id}",
        "patient.identifier": lambda w: f"{codes.QUILL_MRN_SYSTEM}|{w.mrn}",
        "code": lambda w: f"{codes.MHD_LIST_TYPES_SYSTEM}|submissionset",
        "status": lambda w: "current",
        "identifier": lambda w: f"{codes.URI_SYSTEM}|{w.list_unique_id}",
        "date": lambda w: "2025-03-05",
        "_lastUpdated": lambda w: "ge2000-01-01",
    },
}

# The result parameters every search declares: each shapes the answer (and shows in the self link).
RESULT_PROBES: dict[str, str] = {"_count": "5", "_sort": "-_lastUpdated", "_summary": "true", "_elements": "identifier"}

# Parameters Quill implements that match nothing for anyone yet (nothing recorded to match):
# their probe cannot be shown to find the owner's resource. Once one can match, take it off.
MATCHES_NOTHING_YET = {
    ("DocumentReference", "event"): "Quill records no event codes (context.event)",
    ("DocumentReference", "related"): "context.related holds an identifier, so a literal reference matches nothing",
}


@pytest.fixture
def world(organisation, settings) -> World:
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_FHIR_BASE_URL = ""
    author = make_user(organisation, ["clinician"], full_name="Imogen Halloway")
    patient = make_patient(
        organisation,
        nhs_number=VALID_NHS_NUMBERS[0],
        mrn="VICTIM-MRN-77",
        given_name="Perpetua",
        family_name="Quibblesworth",
        date_of_birth=date(1961, 7, 19),
        sex="female",
    )
    MhdSettings.objects.create(
        organisation=organisation,
        confidentiality="R",
        facility_type_code="22232009",
        facility_type_display="Hospital",
        practice_setting_code="394585009",
        practice_setting_display="Obstetrics and gynaecology",
    )
    document = document_row(
        patient,
        author,
        category="lab",
        document_date=date(2024, 3, 5),
        document_date_given=True,
        encounter_id="ENC-VICTIM-9",
    )
    index_replace_pages(
        document_id=document.pk, pages=["Ferritin 12 ug/L, iron studies for Quibblesworth"], language="english"
    )
    submission_set = SubmissionSet.objects.create(
        organisation=organisation,
        patient=patient,
        unique_id="urn:oid:2.25.777001",
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        source_id="urn:oid:1.2.3.4",
        submitted_at=datetime(2025, 3, 5, 10, 0, tzinfo=UTC),
        received_by=author,
        response={},
    )
    SubmissionSetEntry.objects.create(
        document=document,
        submission_set=submission_set,
        organisation=organisation,
        master_identifier_system=codes.URI_SYSTEM,
        master_identifier_value="urn:oid:2.25.777002",
        position=1,
    )
    return World(
        patient_id=str(patient.pk),
        document_id=str(document.pk),
        list_id=str(submission_set.pk),
        nhs_number=patient.nhs_number,
        mrn=patient.mrn,
        given="Perpetua",
        family="Quibblesworth",
        author_given="Imogen",
        author_family="Halloway",
        encounter_id="ENC-VICTIM-9",
        list_unique_id=submission_set.unique_id,
    )
