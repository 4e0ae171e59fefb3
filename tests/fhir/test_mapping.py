"""Quill document/patient facts -> FHIR R4 resources, validated with the R4B models."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import uuid

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from apps.fhir import codes
from apps.fhir.errors import FhirCodeError, FhirMappingError
from apps.fhir.mapping import (
    DocumentFacts,
    MhdMetadata,
    PatientFacts,
    check_codes,
    document_reference,
    operation_outcome,
    patient_resource,
)
from tests.fhir.fhir_server import ResourceInvalid, validate_resource

BASE_URL = "https://quill.example.org"
CONTENT = b"%PDF-1.7 a tiny test document\n"
UPLOADED = dt.datetime(2024, 5, 1, 9, 30, 15, tzinfo=dt.UTC)
METADATA = MhdMetadata(
    security_label=codes.Coding("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N", "normal"),
    language="en-GB",
    facility_type=codes.Coding("http://snomed.info/sct", "35971002", "Ambulatory care site"),
    practice_setting=codes.Coding("http://snomed.info/sct", "394802001", "General medicine"),
)


def make_patient(**overrides: object) -> PatientFacts:
    values = {
        "id": uuid.UUID("6f1c2b8e-0d7a-4c55-9b0e-3f3c1f7a9d21"),
        "fhir_id": "hapi-patient-17",
        "nhs_number": "9434765919",
        "mrn": "MRN-0042",
        "given": "Mary Jane",
        "family": "Smith",
        "birth_date": dt.date(1980, 2, 29),
        "sex": "female",
    }
    values.update(overrides)
    return PatientFacts(**values)  # type: ignore[arg-type]


def make_document(**overrides: object) -> DocumentFacts:
    values = {
        "id": uuid.UUID("0b9e5a3c-2f6d-4e1b-8a7c-5d4e3f2a1b0c"),
        "status": "current",
        "category": "lab",
        "title": "Full blood count",
        "description": "FBC from the practice nurse clinic",
        "content_type": "application/pdf",
        "size": len(CONTENT),
        "sha1": hashlib.sha1(CONTENT).hexdigest(),
        "created": UPLOADED,
        "document_date": dt.date(2024, 4, 30),
        "encounter_id": "ENC-778",
        "author_display": "Dr Ada Jones",
        "author_id": "42",
        "organisation_name": "Riverside Clinic",
        "organisation_id": "7",
        "patient": make_patient(),
        "replaces": None,
        "last_updated": dt.datetime(2024, 5, 1, 9, 31, tzinfo=dt.UTC),
        "version_id": "3",
        "metadata": METADATA,
    }
    values.update(overrides)
    return DocumentFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("category", sorted(codes.CATEGORY_CODES), ids=str)
def test_every_category_maps_to_a_valid_document_reference(category: str) -> None:
    resource = document_reference(make_document(category=category), base_url=BASE_URL, subject_mode="reference")

    DocumentReference.model_validate(resource)
    validate_resource("DocumentReference", resource)  # the test server's explicit checks too
    expected = codes.CATEGORY_CODES[category]
    assert resource["type"]["coding"] == [expected.type.as_fhir()]
    assert resource["category"][0]["coding"] == [
        {"system": "urn:quill:category", "code": category, "display": expected.category.display}
    ]


@pytest.mark.parametrize(
    ("category", "system", "code"),
    [
        ("lab", "http://loinc.org", "11502-2"),
        ("imaging", "http://loinc.org", "18748-4"),
        ("clinical-note", "http://loinc.org", "11506-3"),
        ("consent", "http://loinc.org", "59284-0"),
        ("referral", "http://loinc.org", "57133-1"),
        ("letter", "urn:quill:category", "letter"),
        ("photo", "urn:quill:category", "photo"),
        ("insurance", "urn:quill:category", "insurance"),
        ("other", "urn:quill:category", "other"),
    ],
    ids=lambda value: str(value),
)
def test_type_codes_are_the_documented_ones(category: str, system: str, code: str) -> None:
    coding = codes.CATEGORY_CODES[category].type
    assert (coding.system, coding.code) == (system, code)


def test_the_table_covers_exactly_quills_categories() -> None:
    assert {
        "lab",
        "imaging",
        "clinical-note",
        "consent",
        "referral",
        "insurance",
        "photo",
        "letter",
        "other",
    } == codes.QUILL_CATEGORIES


@pytest.mark.parametrize("status", ["current", "superseded", "entered-in-error"], ids=str)
def test_every_status_maps_and_validates(status: str) -> None:
    resource = document_reference(make_document(status=status), base_url=BASE_URL, subject_mode="reference")

    DocumentReference.model_validate(resource)
    assert resource["status"] == status
    assert "docStatus" not in resource  # MHD Minimal: docStatus 0..0


def test_document_reference_elements() -> None:
    facts = make_document()

    resource = document_reference(facts, base_url=BASE_URL + "/", subject_mode="reference")

    document_id = str(facts.id)
    assert resource["id"] == document_id
    assert resource["masterIdentifier"] == {"use": "usual", "system": "urn:quill:document", "value": document_id}
    assert resource["identifier"] == [
        {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{document_id}"},
        {"use": "secondary", "system": "urn:quill:document", "value": document_id},
    ]
    assert resource["meta"] == {
        "versionId": "3",
        "lastUpdated": "2024-05-01T09:31:00Z",
        "profile": ["https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.DocumentReference"],
    }
    assert resource["date"] == "2024-05-01T09:30:15Z"
    assert resource["description"] == "FBC from the practice nurse clinic"
    assert resource["author"] == [{"reference": "#author", "display": "Dr Ada Jones"}]
    author, source_patient = resource["contained"]
    assert author == {
        "resourceType": "Practitioner",
        "id": "author",
        "identifier": [{"system": "urn:quill:user", "value": "42"}],
        "name": [{"text": "Dr Ada Jones", "family": "Jones", "given": ["Ada"], "prefix": ["Dr"]}],
    }
    assert source_patient["resourceType"] == "Patient"
    assert source_patient["id"] == "source-patient"
    assert {"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"} in (
        source_patient["identifier"]
    )
    assert resource["securityLabel"] == [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N", "display": "normal"}
            ],
            "text": "normal",
        }
    ]
    assert resource["custodian"] == {
        "display": "Riverside Clinic",
        "identifier": {"system": "urn:quill:organisation", "value": "7"},
    }
    content = resource["content"][0]
    assert content["attachment"] == {
        "contentType": "application/pdf",
        "url": f"{BASE_URL}/fhir/r4/Binary/{document_id}",
        "size": len(CONTENT),
        "hash": base64.b64encode(hashlib.sha1(CONTENT).digest()).decode(),
        "title": "Full blood count",
        "creation": "2024-04-30",
        "language": "en-GB",
    }
    assert content["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    encounter = {"identifier": {"system": "urn:quill:encounter", "value": "ENC-778"}}
    assert resource["context"] == {
        "encounter": [encounter],
        "related": [encounter],
        "period": {"start": "2024-04-30", "end": "2024-04-30"},
        "facilityType": {
            "coding": [{"system": "http://snomed.info/sct", "code": "35971002", "display": "Ambulatory care site"}],
            "text": "Ambulatory care site",
        },
        "practiceSetting": {
            "coding": [{"system": "http://snomed.info/sct", "code": "394802001", "display": "General medicine"}],
            "text": "General medicine",
        },
        "sourcePatientInfo": {"reference": "#source-patient"},
    }
    assert "relatesTo" not in resource


def test_hash_is_base64_of_the_raw_sha1_digest_of_known_bytes() -> None:
    # SHA-1("hello") = aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
    facts = make_document(sha1="aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", size=5)

    resource = document_reference(facts, base_url=BASE_URL, subject_mode="reference")

    assert resource["content"][0]["attachment"]["hash"] == "qvTGHdzF6KLavt4PO0gs2a6pQ00="
    assert base64.b64decode(resource["content"][0]["attachment"]["hash"]) == hashlib.sha1(b"hello").digest()


def test_date_keeps_the_timezone_offset() -> None:
    london_summer = dt.timezone(dt.timedelta(hours=1))
    facts = make_document(created=dt.datetime(2024, 7, 1, 8, 0, tzinfo=london_summer))

    resource = document_reference(facts, base_url=BASE_URL, subject_mode="reference")

    assert resource["date"] == "2024-07-01T08:00:00+01:00"


def test_new_version_relates_to_the_one_it_replaces_by_reference() -> None:
    previous = uuid.uuid4()
    facts = make_document(replaces=previous, replaces_reference=f"DocumentReference/{previous}")

    resource = document_reference(facts, base_url=BASE_URL, subject_mode="reference")

    assert resource["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{previous}"}}]


def test_a_replaced_version_not_yet_on_the_server_is_named_by_identifier() -> None:
    previous = uuid.uuid4()

    resource = document_reference(make_document(replaces=previous), base_url=BASE_URL, subject_mode="reference")

    assert resource["relatesTo"] == [
        {"code": "replaces", "target": {"identifier": {"system": "urn:quill:document", "value": str(previous)}}}
    ]


def test_a_received_document_keeps_its_submitters_master_identifier() -> None:
    facts = make_document(master_identifier=("urn:ietf:rfc:3986", "urn:oid:1.2.3.4.5"))

    resource = document_reference(facts, base_url=BASE_URL, subject_mode="reference")

    assert resource["masterIdentifier"] == {"use": "usual", "system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.4.5"}
    assert {"use": "secondary", "system": "urn:quill:document", "value": str(facts.id)} in resource["identifier"]


def test_entered_in_error_claims_no_mhd_profile() -> None:
    # MHD's status value set has only current and superseded.
    resource = document_reference(make_document(status="entered-in-error"), base_url=BASE_URL, subject_mode="reference")

    assert "profile" not in resource["meta"]


def test_an_mhd_profiled_resource_with_a_status_outside_mhd_is_refused() -> None:
    resource = document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")
    resource["status"] = "entered-in-error"

    with pytest.raises(FhirCodeError):
        check_codes(resource)


def test_subject_reference_mode_points_at_the_fhir_patient() -> None:
    resource = document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")

    assert resource["subject"] == {"reference": "Patient/hapi-patient-17", "display": "Mary Jane Smith"}


def test_subject_identifier_mode_uses_the_nhs_number() -> None:
    resource = document_reference(make_document(), base_url=BASE_URL, subject_mode="identifier")

    assert resource["subject"] == {
        "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        "display": "Mary Jane Smith",
    }


def test_subject_identifier_mode_without_nhs_number_uses_the_quill_patient_id() -> None:
    patient = make_patient(nhs_number=None)

    resource = document_reference(make_document(patient=patient), base_url=BASE_URL, subject_mode="identifier")

    assert resource["subject"]["identifier"] == {"system": "urn:quill:patient", "value": str(patient.id)}


def test_reference_mode_without_a_fhir_id_is_refused() -> None:
    facts = make_document(patient=make_patient(fhir_id=None))

    with pytest.raises(FhirMappingError) as excinfo:
        document_reference(facts, base_url=BASE_URL, subject_mode="reference")
    assert excinfo.value.error_code == "fhir_mapping_failed"


def test_optional_elements_are_left_out_when_unknown() -> None:
    facts = make_document(description=None, encounter_id=None, document_date=None, author_display=None, author_id=None)

    resource = document_reference(facts, base_url=BASE_URL, subject_mode="reference")

    DocumentReference.model_validate(resource)
    assert "description" not in resource
    assert "author" not in resource
    assert [contained["resourceType"] for contained in resource["contained"]] == ["Patient"]
    # No clinical date given: nothing is invented from the upload time.
    assert "creation" not in resource["content"][0]["attachment"]
    assert "period" not in resource["context"]
    assert "encounter" not in resource["context"]
    # Without attachment.creation the resource meets the Minimal profile only.
    assert resource["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Minimal.DocumentReference"
    ]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"status": "deleted"}, FhirCodeError),
        ({"category": "x-ray"}, codes.UnknownCategory),
        ({"sha1": "not-a-sha1"}, FhirMappingError),
        ({"sha1": hashlib.sha256(CONTENT).hexdigest()}, FhirMappingError),
        ({"created": dt.datetime(2024, 5, 1, 9, 30)}, FhirMappingError),
        ({"size": -1}, FhirMappingError),
        ({"content_type": "pdf"}, FhirMappingError),
    ],
    ids=[
        "bad-status",
        "unknown-category",
        "non-hex-sha1",
        "sha256-not-sha1",
        "naive-datetime",
        "negative-size",
        "bad-mime",
    ],
)
def test_bad_facts_are_refused(overrides: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        document_reference(make_document(**overrides), base_url=BASE_URL, subject_mode="reference")


@pytest.mark.parametrize("base_url", ["", "quill.example.org", "ftp://quill.example.org"], ids=repr)
def test_relative_or_odd_base_url_is_refused(base_url: str) -> None:
    with pytest.raises(FhirMappingError):
        document_reference(make_document(), base_url=base_url, subject_mode="reference")


def test_patient_resource() -> None:
    patient = make_patient()

    resource = patient_resource(patient)

    Patient.model_validate(resource)
    assert resource["identifier"] == [
        {"use": "official", "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"},
        {"use": "secondary", "system": "urn:quill:patient", "value": str(patient.id)},
        {"use": "usual", "system": "urn:quill:mrn", "value": "MRN-0042"},
    ]
    assert resource["name"] == [
        {"use": "official", "family": "Smith", "given": ["Mary", "Jane"], "text": "Mary Jane Smith"}
    ]
    assert resource["birthDate"] == "1980-02-29"
    assert resource["gender"] == "female"


@pytest.mark.parametrize(
    ("sex", "gender"),
    [("male", "male"), ("F", "female"), ("other", "other"), ("unknown", "unknown"), (None, None), ("", None)],
    ids=repr,
)
def test_patient_gender_mapping(sex: str | None, gender: str | None) -> None:
    resource = patient_resource(make_patient(sex=sex))

    assert resource.get("gender") == gender


def test_unknown_sex_is_refused() -> None:
    with pytest.raises(FhirMappingError):
        patient_resource(make_patient(sex="x"))


def test_patient_without_nhs_number_or_mrn_still_has_the_quill_identifier() -> None:
    patient = make_patient(nhs_number=None, mrn=None, birth_date=None)

    resource = patient_resource(patient)

    Patient.model_validate(resource)
    assert resource["identifier"] == [{"use": "secondary", "system": "urn:quill:patient", "value": str(patient.id)}]
    assert "birthDate" not in resource


def test_operation_outcome_is_valid() -> None:
    resource = operation_outcome("error", "not-found", "No such document")

    OperationOutcome.model_validate(resource)
    assert resource["issue"] == [{"severity": "error", "code": "not-found", "diagnostics": "No such document"}]


@pytest.mark.parametrize(("severity", "code"), [("bad", "not-found"), ("error", "gone")], ids=["severity", "code"])
def test_operation_outcome_with_bad_codes_is_refused(severity: str, code: str) -> None:
    with pytest.raises(FhirCodeError):
        operation_outcome(severity, code, "x")


def _valid_reference() -> dict:
    return document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")


@pytest.mark.parametrize(
    ("element", "value", "bad_code"),
    [
        ("status", "deleted", "deleted"),
        ("docStatus", "done", "done"),
        ("relatesTo", [{"code": "supersedes", "target": {"reference": "DocumentReference/1"}}], "supersedes"),
    ],
    ids=["status", "docStatus", "relatesTo"],
)
def test_check_codes_rejects_codes_pydantic_lets_through(element: str, value: object, bad_code: str) -> None:
    resource = _valid_reference()
    resource[element] = value
    DocumentReference.model_validate(resource)  # pydantic alone accepts it ...

    with pytest.raises(FhirCodeError) as excinfo:  # ... check_codes does not
        check_codes(resource)
    assert excinfo.value.data["value"] == bad_code


def test_check_codes_accepts_a_mapped_resource() -> None:
    check_codes(_valid_reference())


def test_check_codes_looks_inside_bundles() -> None:
    resource = _valid_reference()
    resource["status"] = "archived"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource, "search": {"mode": "match"}}],
    }

    with pytest.raises(FhirCodeError):
        check_codes(bundle)


def test_test_server_validation_rejects_a_wrong_length_hash() -> None:
    resource = _valid_reference()
    resource["content"][0]["attachment"]["hash"] = base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()

    with pytest.raises(ResourceInvalid, match="20-byte"):
        validate_resource("DocumentReference", resource)


def test_facts_are_frozen() -> None:
    facts = make_document()

    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.status = "superseded"  # type: ignore[misc]
