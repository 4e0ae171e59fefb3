"""Map Quill documents and patients to FHIR R4 resources (as JSON-ready dicts).

The functions here work on plain frozen dataclasses (``PatientFacts``, ``DocumentFacts``)
that a selector fills from the models, so this module never touches the database.
Every resource is built as a dict, validated by constructing the R4B model from
``fhir.resources`` and then checked for code values (which pydantic does not check).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from pydantic import BaseModel, ValidationError

from apps.fhir.errors import FhirCodeError, FhirMappingError

from . import codes

SubjectMode = Literal["reference", "identifier"]
SUBJECT_MODES: frozenset[str] = frozenset({"reference", "identifier"})

_SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the FHIR mapping needs to know about a patient."""

    id: uuid.UUID
    fhir_id: str | None
    nhs_number: str | None
    mrn: str | None
    given: str
    family: str
    birth_date: dt.date | None
    sex: str | None


@dataclass(frozen=True, slots=True)
class MhdMetadata:
    """The organisation's MHD document metadata (``apps.fhir.models.MhdSettings`` or its defaults)."""

    security_label: codes.Coding
    language: str
    facility_type: codes.Coding
    practice_setting: codes.Coding


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the FHIR mapping needs to know about one document version.

    ``created`` is when Quill received the file (the upload instant); ``document_date``
    is the clinical date the document is about, ``None`` when nobody gave one (then
    ``attachment.creation`` and ``context.period`` are left out rather than invented).
    ``replaces_reference`` is ``DocumentReference/<id>`` of the replaced version on the
    server the resource is for, when known; otherwise ``replaces`` is sent as an identifier.
    ``master_identifier`` is the submitter's (system, value) for a document received
    through ITI-65, else None (Quill's own id is used).
    """

    id: uuid.UUID
    status: str
    category: str
    title: str
    description: str | None
    content_type: str
    size: int
    sha1: str
    created: dt.datetime
    document_date: dt.date | None
    encounter_id: str | None
    author_display: str | None
    author_id: str | None
    organisation_name: str
    organisation_id: str
    patient: PatientFacts
    replaces: uuid.UUID | None
    last_updated: dt.datetime
    version_id: str
    metadata: MhdMetadata
    replaces_reference: str | None = None
    master_identifier: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SubmissionSetFacts:
    """What the mapping needs to know about one received SubmissionSet (an ITI-65 bundle)."""

    id: uuid.UUID
    unique_id: str
    source_id: str
    title: str
    submitted_at: dt.datetime
    patient_reference: str
    document_ids: tuple[uuid.UUID, ...]
    last_updated: dt.datetime
    version_id: str = "1"


# --- Public builders -------------------------------------------------------------------------------


def document_reference(facts: DocumentFacts, *, base_url: str, subject_mode: SubjectMode) -> dict[str, Any]:
    """Build the R4 DocumentReference for one document version, validated (IHE MHD 4.2.2).

    ``base_url`` is Quill's public base URL (``QUILL_PUBLIC_BASE_URL``); the attachment
    points at ``{base_url}/fhir/r4/Binary/{id}``. The resource claims the MHD
    Comprehensive profile when it carries everything that profile requires (a clinical
    date for ``attachment.creation``), else the Minimal profile; an ``entered-in-error``
    resource (only ever sent where a server refused a deletion) claims neither, since MHD's
    status value set has no such code.
    """
    _check_document_facts(facts)
    _check_base_url(base_url)
    category = codes.category_codes(facts.category)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(facts.id),
        "meta": _meta(facts.version_id, facts.last_updated),
        "contained": _contained(facts),
        "masterIdentifier": _master_identifier(facts),
        "identifier": [
            {"use": "official", "system": codes.URI_SYSTEM, "value": facts.id.urn},
            {"use": "secondary", "system": codes.QUILL_DOCUMENT_SYSTEM, "value": str(facts.id)},
        ],
        "status": facts.status,
        "type": {"coding": [category.type.as_fhir()], "text": category.type.display},
        "category": [{"coding": [category.category.as_fhir()], "text": category.category.display}],
        "subject": _subject(facts.patient, subject_mode),
        "date": facts.created,
        "custodian": {
            "display": facts.organisation_name,
            "identifier": {"system": codes.QUILL_ORGANISATION_SYSTEM, "value": facts.organisation_id},
        },
        "securityLabel": [_concept(facts.metadata.security_label)],
        "content": [
            {
                "attachment": _attachment(facts, base_url),
                "format": codes.MIME_TYPE_SUFFICIENT.as_fhir(),
            }
        ],
        "context": _context(facts),
    }
    if _has_author(facts):
        author = {"reference": f"#{AUTHOR_ID}"}
        if facts.author_display:
            author["display"] = facts.author_display
        resource["author"] = [author]
    profile = _document_profile(facts)
    if profile:
        resource["meta"]["profile"] = [profile]
    if facts.description:
        resource["description"] = facts.description
    if facts.replaces is not None:
        target: dict[str, Any] = (
            {"reference": facts.replaces_reference}
            if facts.replaces_reference
            else {"identifier": {"system": codes.QUILL_DOCUMENT_SYSTEM, "value": str(facts.replaces)}}
        )
        resource["relatesTo"] = [{"code": "replaces", "target": target}]
    return validate_resource(DocumentReference, resource)


def submission_set_list(facts: SubmissionSetFacts) -> dict[str, Any]:
    """Build the MHD SubmissionSet ``List`` for one received ITI-65 bundle, validated."""
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": str(facts.id),
        "meta": {"profile": [codes.MHD_SUBMISSION_SET_PROFILE], **_meta(facts.version_id, facts.last_updated)},
        "extension": [{"url": codes.MHD_SOURCE_ID_EXTENSION, "valueIdentifier": {"value": facts.source_id}}],
        "identifier": [
            {"use": "usual", "system": codes.URI_SYSTEM, "value": facts.unique_id},
            {"use": "official", "system": codes.URI_SYSTEM, "value": facts.id.urn},
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [codes.MHD_SUBMISSION_SET_CODE.as_fhir()]},
        "subject": {"reference": facts.patient_reference},
        "date": facts.submitted_at,
        "entry": [{"item": {"reference": f"DocumentReference/{document_id}"}} for document_id in facts.document_ids],
    }
    if facts.title:
        resource["title"] = facts.title
    return validate_resource(FhirList, resource)


def patient_resource(facts: PatientFacts) -> dict[str, Any]:
    """Build the R4 Patient for a Quill patient, validated.

    Carries the Quill patient identifier (``urn:quill:patient``) so a conditional update
    on it finds the same Patient every time.
    """
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(facts.id),
        "identifier": _patient_identifiers(facts),
        "name": [_human_name(facts)],
    }
    if facts.birth_date is not None:
        resource["birthDate"] = facts.birth_date
    gender = _gender(facts.sex)
    if gender is not None:
        resource["gender"] = gender
    return validate_resource(Patient, resource)


def _patient_identifiers(facts: PatientFacts) -> list[dict[str, str]]:
    identifiers = [{"use": "secondary", "system": codes.QUILL_PATIENT_SYSTEM, "value": str(facts.id)}]
    if facts.nhs_number:
        identifiers.insert(0, {"use": "official", "system": codes.NHS_NUMBER_SYSTEM, "value": facts.nhs_number})
    if facts.mrn:
        identifiers.append({"use": "usual", "system": codes.QUILL_MRN_SYSTEM, "value": facts.mrn})
    return identifiers


def operation_outcome(severity: str, code: str, diagnostics: str) -> dict[str, Any]:
    """Build a one-issue OperationOutcome, validated."""
    resource = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
    return validate_resource(OperationOutcome, resource)


def check_codes(resource: Mapping[str, Any]) -> None:
    """Raise ``FhirCodeError`` if a resource carries a code outside its required value set.

    Covers the resource types Quill produces: DocumentReference, Patient,
    OperationOutcome, Bundle (and the resources in its entries) and CapabilityStatement.
    """
    checker = _CODE_CHECKERS.get(resource.get("resourceType", ""))
    if checker is not None:
        checker(resource)


# --- Element builders ------------------------------------------------------------------------------


def _meta(version_id: str, last_updated: dt.datetime) -> dict[str, Any]:
    return {"versionId": str(version_id), "lastUpdated": last_updated}


def _subject(patient: PatientFacts, subject_mode: str) -> dict[str, Any]:
    display = _display_name(patient)
    if subject_mode == "reference":
        if not patient.fhir_id:
            raise FhirMappingError(
                "The patient has no FHIR id yet; sync the Patient first or use subject mode 'identifier'.",
                patient_id=str(patient.id),
            )
        return {"reference": f"Patient/{patient.fhir_id}", "display": display}
    if subject_mode == "identifier":
        if patient.nhs_number:
            identifier = {"system": codes.NHS_NUMBER_SYSTEM, "value": patient.nhs_number}
        else:
            # Without an NHS number the only stable identifier is Quill's own.
            identifier = {"system": codes.QUILL_PATIENT_SYSTEM, "value": str(patient.id)}
        return {"identifier": identifier, "display": display}
    raise FhirMappingError(
        f"Unknown subject mode {subject_mode!r}; expected 'reference' or 'identifier'.",
        subject_mode=subject_mode,
    )


# Local ids of the contained resources (Comprehensive: author and sourcePatientInfo are contained).
AUTHOR_ID = "author"
SOURCE_PATIENT_ID = "source-patient"
_NAME_PREFIXES = frozenset({"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sister", "nurse"})


def _document_profile(facts: DocumentFacts) -> str | None:
    if facts.status not in codes.MHD_DOCUMENT_REFERENCE_STATUSES:
        return None
    if facts.document_date is None:
        return codes.MHD_MINIMAL_DOCUMENT_REFERENCE_PROFILE
    return codes.MHD_COMPREHENSIVE_DOCUMENT_REFERENCE_PROFILE


def _master_identifier(facts: DocumentFacts) -> dict[str, str]:
    if facts.master_identifier is not None:
        system, value = facts.master_identifier
        return {"use": "usual", "system": system, "value": value}
    return {"use": "usual", "system": codes.QUILL_DOCUMENT_SYSTEM, "value": str(facts.id)}


def _concept(coding: codes.Coding) -> dict[str, Any]:
    return {"coding": [coding.as_fhir()], "text": coding.display}


def _has_author(facts: DocumentFacts) -> bool:
    return bool(facts.author_id or (facts.author_display or "").strip())


def _contained(facts: DocumentFacts) -> list[dict[str, Any]]:
    """The author as a Practitioner and the patient as the source knew them (sourcePatientInfo)."""
    contained = []
    if _has_author(facts):
        author: dict[str, Any] = {"resourceType": "Practitioner", "id": AUTHOR_ID}
        if (facts.author_display or "").strip():
            author["name"] = [_author_human_name(facts)]
        if facts.author_id:
            author["identifier"] = [{"system": codes.QUILL_USER_SYSTEM, "value": facts.author_id}]
        contained.append(author)
    source_patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": SOURCE_PATIENT_ID,
        "identifier": _patient_identifiers(facts.patient),
        "name": [_human_name(facts.patient)],
    }
    if facts.patient.birth_date is not None:
        source_patient["birthDate"] = facts.patient.birth_date
    contained.append(source_patient)
    return contained


def _author_human_name(facts: DocumentFacts) -> dict[str, Any]:
    """The uploader's full name split for ``author.given`` / ``author.family`` search."""
    text = (facts.author_display or "").strip()
    words = text.split()
    prefix = [word for word in words[:1] if word.lower().rstrip(".") in _NAME_PREFIXES and len(words) > 1]
    words = words[len(prefix) :]
    name: dict[str, Any] = {"text": text, "family": words[-1]}
    if len(words) > 1:
        name["given"] = words[:-1]
    if prefix:
        name["prefix"] = prefix
    return name


def _attachment(facts: DocumentFacts, base_url: str) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "contentType": facts.content_type,
        "language": facts.metadata.language,
        "url": f"{base_url.rstrip('/')}/fhir/r4/Binary/{facts.id}",
        "size": facts.size,
        "hash": sha1_hex_to_base64(facts.sha1),
        "title": facts.title,
    }
    if facts.document_date is not None:
        # Attachment.creation is a dateTime; the clinical date is the best "created" we know.
        attachment["creation"] = facts.document_date
    return attachment


def _context(facts: DocumentFacts) -> dict[str, Any]:
    context: dict[str, Any] = {
        "facilityType": _concept(facts.metadata.facility_type),
        "practiceSetting": _concept(facts.metadata.practice_setting),
        "sourcePatientInfo": {"reference": f"#{SOURCE_PATIENT_ID}"},
    }
    if facts.encounter_id:
        # Quill holds the encounter id as a string from the clinic's PAS, not as a FHIR
        # Encounter it can reference, so this is a logical (identifier) reference. MHD maps
        # both context.encounter and context.related to XDS referenceIdList, so the id is
        # in both (and ``related`` search finds it).
        encounter = {"identifier": {"system": codes.QUILL_ENCOUNTER_SYSTEM, "value": facts.encounter_id}}
        context["encounter"] = [encounter]
        context["related"] = [encounter]
    if facts.document_date is not None:
        context["period"] = {"start": facts.document_date, "end": facts.document_date}
    return context


def _human_name(facts: PatientFacts) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official"}
    if facts.family:
        name["family"] = facts.family
    given = facts.given.split() if facts.given else []
    if given:
        name["given"] = given
    text = _display_name(facts)
    if text:
        name["text"] = text
    return name


def _display_name(patient: PatientFacts) -> str:
    return " ".join(part for part in (patient.given, patient.family) if part).strip()


def _gender(sex: str | None) -> str | None:
    if sex is None or not sex.strip():
        return None
    try:
        return codes.SEX_TO_GENDER[sex.strip().lower()]
    except KeyError:
        raise FhirMappingError(
            f"Unknown sex {sex!r}; expected one of {sorted(codes.ADMINISTRATIVE_GENDERS)}.", sex=sex
        ) from None


def sha1_hex_to_base64(sha1_hex: str) -> str:
    """FHIR ``Attachment.hash``: base64 of the raw 20-byte SHA-1 digest (not of the hex)."""
    if not _SHA1_HEX.match(sha1_hex or ""):
        raise FhirMappingError("The SHA-1 must be 40 hexadecimal characters.", sha1=sha1_hex)
    return base64.b64encode(bytes.fromhex(sha1_hex)).decode("ascii")


# --- Fact checks ---------------------------------------------------------------------------------


def _check_document_facts(facts: DocumentFacts) -> None:
    _check_status(facts.status)
    codes.category_codes(facts.category)
    _check_aware(facts.created, "created")
    _check_aware(facts.last_updated, "last_updated")
    if facts.size < 0:
        raise FhirMappingError("The document size cannot be negative.", size=facts.size)
    if not facts.content_type or "/" not in facts.content_type:
        raise FhirMappingError("The document needs a MIME content type.", content_type=facts.content_type)
    if not facts.title:
        raise FhirMappingError("The document needs a title.")
    if not str(facts.version_id):
        raise FhirMappingError("The document needs a version id.")


def _check_status(status: str) -> None:
    if status not in codes.DOCUMENT_REFERENCE_STATUSES:
        raise FhirCodeError(
            f"DocumentReference.status {status!r} is not one of {sorted(codes.DOCUMENT_REFERENCE_STATUSES)}.",
            element="DocumentReference.status",
            value=status,
        )


def _check_aware(value: dt.datetime, name: str) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise FhirMappingError(f"{name} must be a timezone-aware datetime.", field=name)


def _check_base_url(base_url: str) -> None:
    if not re.match(r"^https?://[^/\s]+", base_url or ""):
        raise FhirMappingError(
            "The public base URL must be an absolute http(s) URL (QUILL_PUBLIC_BASE_URL).", base_url=base_url
        )


# --- Validation ------------------------------------------------------------------------------------


def validate_resource(model: type[BaseModel], resource: dict[str, Any]) -> dict[str, Any]:
    """Validate ``resource`` with an R4B model and its codes; return the JSON-ready dict."""
    try:
        instance = model.model_validate(resource)
    except ValidationError as exc:
        raise FhirMappingError(
            f"The {resource['resourceType']} is not valid FHIR R4: {exc}", resource_type=resource["resourceType"]
        ) from exc
    result = instance.model_dump(mode="json", exclude_none=True)
    check_codes(result)
    return result


# --- Code checks -----------------------------------------------------------------------------------


def _require_code(value: Any, allowed: Iterable[str], element: str) -> None:
    if value not in allowed:
        raise FhirCodeError(f"{element} {value!r} is not one of {sorted(allowed)}.", element=element, value=value)


def _optional_code(value: Any, allowed: Iterable[str], element: str) -> None:
    if value is not None:
        _require_code(value, allowed, element)


def _check_document_reference_codes(resource: Mapping[str, Any]) -> None:
    _require_code(resource.get("status"), codes.DOCUMENT_REFERENCE_STATUSES, "DocumentReference.status")
    if any(profile.startswith(codes.MHD_PROFILE_PREFIX) for profile in (resource.get("meta") or {}).get("profile", [])):
        _require_code(resource.get("status"), codes.MHD_DOCUMENT_REFERENCE_STATUSES, "DocumentReference.status (MHD)")
    _optional_code(resource.get("docStatus"), codes.COMPOSITION_STATUSES, "DocumentReference.docStatus")
    for relation in resource.get("relatesTo") or []:
        _require_code(relation.get("code"), codes.DOCUMENT_RELATIONSHIP_TYPES, "DocumentReference.relatesTo.code")


def _check_list_codes(resource: Mapping[str, Any]) -> None:
    _require_code(resource.get("status"), {"current", "retired", "entered-in-error"}, "List.status")
    _require_code(resource.get("mode"), {"working", "snapshot", "changes"}, "List.mode")


def _check_patient_codes(resource: Mapping[str, Any]) -> None:
    _optional_code(resource.get("gender"), codes.ADMINISTRATIVE_GENDERS, "Patient.gender")


def _check_operation_outcome_codes(resource: Mapping[str, Any]) -> None:
    for issue in resource.get("issue") or []:
        _require_code(issue.get("severity"), codes.ISSUE_SEVERITIES, "OperationOutcome.issue.severity")
        _require_code(issue.get("code"), codes.ISSUE_TYPES, "OperationOutcome.issue.code")


def _check_bundle_codes(resource: Mapping[str, Any]) -> None:
    _require_code(resource.get("type"), codes.BUNDLE_TYPES, "Bundle.type")
    for entry in resource.get("entry") or []:
        search = entry.get("search")
        if search is not None:
            _optional_code(search.get("mode"), codes.SEARCH_ENTRY_MODES, "Bundle.entry.search.mode")
        if entry.get("resource") is not None:
            check_codes(entry["resource"])


def _check_capability_statement_codes(resource: Mapping[str, Any]) -> None:
    _require_code(resource.get("status"), {"draft", "active", "retired", "unknown"}, "CapabilityStatement.status")
    _require_code(resource.get("kind"), {"instance", "capability", "requirements"}, "CapabilityStatement.kind")
    for rest in resource.get("rest") or []:
        _require_code(rest.get("mode"), {"client", "server"}, "CapabilityStatement.rest.mode")
        for interaction in rest.get("interaction") or []:
            _require_code(
                interaction.get("code"),
                {"transaction", "batch", "search-system", "history-system"},
                "CapabilityStatement.rest.interaction.code",
            )
        for rest_resource in rest.get("resource") or []:
            for interaction in rest_resource.get("interaction") or []:
                _require_code(
                    interaction.get("code"),
                    codes.TYPE_RESTFUL_INTERACTIONS,
                    "CapabilityStatement.rest.resource.interaction.code",
                )
            for param in rest_resource.get("searchParam") or []:
                _require_code(
                    param.get("type"), codes.SEARCH_PARAM_TYPES, "CapabilityStatement.rest.resource.searchParam.type"
                )


_CODE_CHECKERS = {
    "DocumentReference": _check_document_reference_codes,
    "Patient": _check_patient_codes,
    "List": _check_list_codes,
    "OperationOutcome": _check_operation_outcome_codes,
    "Bundle": _check_bundle_codes,
    "CapabilityStatement": _check_capability_statement_codes,
}
