"""An MHD Document Source for tests: builds ITI-65 Provide Document Bundles with fhir.resources (R4B).

The resources are constructed as R4B models, so a bundle that reaches Quill is valid FHIR
whatever Quill then makes of it; ``as_json`` gives the body to POST. Each document is a
``Doc``; ``provide_bundle`` lays out the SubmissionSet, one DocumentReference and one
Binary per document, as the MHD Minimal ProvideBundle profile does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList

MHD = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
MINIMAL_PROVIDE_BUNDLE = MHD + "IHE.MHD.Minimal.ProvideBundle"
SOURCE_ID_EXTENSION = MHD + "ihe-sourceId"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"


def new_oid() -> str:
    """A fresh uniqueId under the 2.25 (UUID-derived) OID arc."""
    return f"urn:oid:2.25.{uuid.uuid4().int}"


@dataclass
class Doc:
    """One document for a bundle; ``size``/``hash`` override what is declared (to send wrong ones)."""

    data: bytes
    content_type: str = "application/pdf"
    title: str = "Discharge summary"
    creation: str | None = "2025-03-04"
    loinc: str = "11502-2"
    master_identifier: str = field(default_factory=new_oid)
    size: int | None = None
    hash: str | None = None
    inline: bool = False

    @property
    def declared_size(self) -> int:
        return len(self.data) if self.size is None else self.size

    @property
    def declared_hash(self) -> str:
        return self.hash if self.hash is not None else base64.b64encode(hashlib.sha1(self.data).digest()).decode()


def provide_bundle(
    docs: list[Doc],
    *,
    subject: dict[str, Any],
    unique_id: str | None = None,
    source_id: str = "urn:oid:1.2.3.4.5.6",
    patient: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ITI-65 transaction Bundle for ``docs`` about ``subject`` (a FHIR Reference as a dict).

    With ``patient`` (a Patient resource), the bundle carries it and ``subject`` is ignored:
    the List and DocumentReferences point at the bundled Patient.
    """
    unique_id = unique_id or new_oid()
    entries: list[dict[str, Any]] = []
    patient_entry = None
    if patient is not None:
        patient_url = f"urn:uuid:{uuid.uuid4()}"
        patient_entry = {"fullUrl": patient_url, "resource": patient, "request": {"method": "GET", "url": "Patient"}}
        subject = {"reference": patient_url}
    reference_urls = []
    for doc in docs:
        binary_url, reference_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        reference_urls.append(reference_url)
        attachment: dict[str, Any] = {
            "contentType": doc.content_type,
            "title": doc.title,
            "size": doc.declared_size,
            "hash": doc.declared_hash,
            "language": "en-GB",
        }
        if doc.creation:
            attachment["creation"] = doc.creation
        if doc.inline:
            attachment["data"] = base64.b64encode(doc.data).decode()
        else:
            attachment["url"] = binary_url
        reference = DocumentReference.model_validate(
            {
                "resourceType": "DocumentReference",
                "meta": {"profile": [MHD + "IHE.MHD.Minimal.DocumentReference"]},
                "masterIdentifier": {"use": "usual", "system": "urn:ietf:rfc:3986", "value": doc.master_identifier},
                "identifier": [{"use": "official", "system": "urn:ietf:rfc:3986", "value": reference_url}],
                "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": doc.loinc}]},
                "subject": subject,
                "date": "2025-03-05T10:00:00Z",
                "content": [{"attachment": attachment}],
            }
        )
        entries.append(_entry(reference_url, reference.model_dump(mode="json", exclude_none=True)))
        if not doc.inline:
            binary = Binary.model_validate(
                {"resourceType": "Binary", "contentType": doc.content_type, "data": base64.b64encode(doc.data).decode()}
            )
            entries.append(_entry(binary_url, binary.model_dump(mode="json", exclude_none=True)))
    submission_set = FhirList.model_validate(
        {
            "resourceType": "List",
            "meta": {"profile": [MHD + "IHE.MHD.Minimal.SubmissionSet"]},
            "extension": [{"url": SOURCE_ID_EXTENSION, "valueIdentifier": {"value": source_id}}],
            "identifier": [
                {"use": "usual", "system": "urn:ietf:rfc:3986", "value": unique_id},
                {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
            ],
            "status": "current",
            "mode": "working",
            "title": "Referral documents",
            "code": {"coding": [{"system": LIST_TYPES, "code": "submissionset"}]},
            "subject": subject,
            "date": dt.datetime(2025, 3, 5, 10, 0, tzinfo=dt.UTC).isoformat(),
            "entry": [{"item": {"reference": url}} for url in reference_urls],
        }
    )
    entries.insert(0, _entry(f"urn:uuid:{uuid.uuid4()}", submission_set.model_dump(mode="json", exclude_none=True)))
    if patient_entry is not None:
        entries.append(patient_entry)
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "meta": {"profile": [MINIMAL_PROVIDE_BUNDLE]},
            "type": "transaction",
            "entry": entries,
        }
    )
    return bundle.model_dump(mode="json", exclude_none=True)


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def as_json(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle).encode("utf-8")


def nhs_subject(nhs_number: str) -> dict[str, Any]:
    return {"identifier": {"system": NHS_NUMBER, "value": nhs_number}}
