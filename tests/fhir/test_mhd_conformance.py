"""Profile conformance: IHE MHD 4.2.2's constraints, one assertion each, over everything Quill serves.

Derived from the StructureDefinitions of IHE ITI.MHD release 4.2.2 (FSH sources
``input/fsh/documentReference.fsh``, ``identifier.fsh``, ``submissionSet.fsh``, ``mhdList.fsh``,
``provideBundle.fsh``, ``findDocumentReferencesResponse.fsh``,
``findFindDocumentListsResponse.fsh``). Each ``Constraint`` names its profile and element
path (or invariant id, such as ``mhd-startswithuuid``) and becomes one test, run over every
resource the responder returned in one realistic session: documents uploaded with and
without a clinical date, with an encounter, replaced by a new version, and received
through ITI-65; DocumentReference and List searches and reads; the transaction-response.

A constraint that held for no resource would prove nothing, so each test also requires
at least one resource it applies to, and ``test_each_constraint_catches_its_violation``
breaks a served resource on purpose and expects the check to say so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from apps.documents.services import UploadRequest, document_new_version, document_upload
from apps.fhir.models import MhdSettings
from apps.files.spooling import spool
from tests import factories
from tests.documents import samples
from tests.fhir.mhd_bundles import Doc, as_json, nhs_subject, provide_bundle
from tests.services.storage import filesystem_settings

MHD = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
MINIMAL = MHD + "IHE.MHD.Minimal.DocumentReference"
COMPREHENSIVE = MHD + "IHE.MHD.Comprehensive.DocumentReference"
SUBMISSION_SET = MHD + "IHE.MHD.Minimal.SubmissionSet"
URI = "urn:ietf:rfc:3986"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
FHIR = "/fhir/r4"

# The session below runs once per module, in a transaction of its own; each test only reads.
pytestmark = pytest.mark.django_db


# --- What the responder served ---------------------------------------------------------------------


@dataclass
class Served:
    """Every resource Quill answered with, by kind."""

    document_references: list[dict[str, Any]]
    lists: list[dict[str, Any]]
    document_searchsets: list[dict[str, Any]]
    list_searchsets: list[dict[str, Any]]
    transaction_responses: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return getattr(self, kind)


def _upload(user, patient, data: bytes, *, filename: str = "report.pdf", **fields):
    item = UploadRequest(spooled=spool([data], max_bytes=10**8), filename=filename, **fields)
    return document_upload(actor=user, patient=patient, item=item)


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Served]:
    """One session against the responder, in a transaction rolled back afterwards."""
    storage = filesystem_settings(tmp_path_factory.mktemp("mhd-conformance") / "documents")
    with (
        override_settings(
            **storage,
            QUILL_PUBLIC_BASE_URL="https://quill.example.test",
            QUILL_FHIR_BASE_URL="",
            QUILL_SCANNER="none",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        organisation = factories.make_organisation("Conformance Clinic")
        clinician = factories.make_user(organisation, ["clinician"], full_name="Dr Grace Hopper")
        patient = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[3])
        dated = _upload(clinician, patient, samples.pdf(1), category="lab", document_date=date(2025, 1, 9))
        _upload(clinician, patient, samples.png(30, 20), filename="wound.png", category="photo", encounter_id="ENC-9")
        item = UploadRequest(spooled=spool([samples.pdf(2)], max_bytes=10**8), filename="v2.pdf", category="")
        document_new_version(actor=clinician, current=dated, item=item)
        api = factories.token_client(clinician, keyword="Bearer")
        bundle = provide_bundle(
            [Doc(samples.pdf(3)), Doc(samples.pdf(1), creation=None)], subject=nhs_subject(patient.nhs_number)
        )
        received = api.generic("POST", FHIR, as_json(bundle), content_type="application/fhir+json")
        assert received.status_code == 200, received.content
        # With the inbox on, a bundle for a patient Quill cannot resolve is answered too (202 entries).
        MhdSettings.objects.create(organisation=organisation, unknown_patient_to_inbox=True)
        unknown = provide_bundle([Doc(samples.pdf(2))], subject=nhs_subject(factories.VALID_NHS_NUMBERS[4]))
        to_inbox = api.generic("POST", FHIR, as_json(unknown), content_type="application/fhir+json")
        assert to_inbox.status_code == 200, to_inbox.content
        document_search = api.get(f"{FHIR}/DocumentReference", {"patient": str(patient.pk), "_count": 3})
        next_link = next(link["url"] for link in document_search.json()["link"] if link["relation"] == "next")
        second_page = api.get(next_link.removeprefix("https://quill.example.test"))
        searchsets = [document_search.json(), second_page.json()]
        document_references = [entry["resource"] for page in searchsets for entry in page.get("entry", [])]
        document_references += [
            api.get(f"{FHIR}/DocumentReference/{resource['id']}").json() for resource in document_references
        ]
        list_search = api.get(
            f"{FHIR}/List", {"patient": str(patient.pk), "code": "submissionset", "status": "current"}
        ).json()
        lists = [entry["resource"] for entry in list_search.get("entry", [])]
        lists += [api.get(f"{FHIR}/List/{resource['id']}").json() for resource in lists]
        yield Served(
            document_references=document_references,
            lists=lists,
            document_searchsets=searchsets,
            list_searchsets=[list_search],
            transaction_responses=[received.json(), to_inbox.json()],
        )
        transaction.set_rollback(True)


# --- The constraints -------------------------------------------------------------------------------

Check = Callable[[dict[str, Any]], list[str]]
Break = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Constraint:
    """One MHD 4.2.2 constraint: where it comes from, what it applies to, how to check and to break it."""

    id: str
    kind: str
    check: Check
    breaks: Break
    applies: Callable[[dict[str, Any]], bool] = lambda resource: True


def _need(condition: bool, message: str) -> list[str]:
    return [] if condition else [message]


def _profiles(resource: dict[str, Any]) -> list[str]:
    return (resource.get("meta") or {}).get("profile") or []


def _comprehensive(resource: dict[str, Any]) -> bool:
    return COMPREHENSIVE in _profiles(resource)


def _identifiers(resource: dict[str, Any], use: str) -> list[dict[str, Any]]:
    return [identifier for identifier in resource.get("identifier") or [] if identifier.get("use") == use]


def _attachment(resource: dict[str, Any]) -> dict[str, Any]:
    return ((resource.get("content") or [{}])[0]).get("attachment") or {}


def _contained_ids(resource: dict[str, Any]) -> set[str]:
    return {f"#{contained.get('id')}" for contained in resource.get("contained") or []}


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            elif key != "contained":
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _drop(path: str) -> Break:
    def breaks(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = resource
        for part in parents:
            target = target[part][0] if isinstance(target[part], list) else target[part]
        target.pop(last)

    return breaks


def _set(path: str, value: Any) -> Break:
    def breaks(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = resource
        for part in parents:
            target = target[part][0] if isinstance(target[part], list) else target[part]
        target[last] = copy.deepcopy(value)

    return breaks


def _toggle_creation(resource: dict[str, Any]) -> None:
    """Invent a creation date where there was none, or drop the one that goes with context.period."""
    attachment = _attachment(resource)
    if "creation" in attachment:
        del attachment["creation"]
    else:
        attachment["creation"] = "2025-01-01"


DOCUMENT_REFERENCE = [
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:meta.profile-declared",
        "document_references",
        lambda r: _need(bool({MINIMAL, COMPREHENSIVE} & set(_profiles(r))), "no MHD DocumentReference profile claimed"),
        _set("meta.profile", ["http://example.org/other"]),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:modifierExtension-0..0",
        "document_references",
        lambda r: _need("modifierExtension" not in r, "modifierExtension present"),
        _set("modifierExtension", [{"url": "http://example.org/x", "valueBoolean": True}]),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:masterIdentifier-1..1",
        "document_references",
        lambda r: _need(isinstance(r.get("masterIdentifier"), dict), "no masterIdentifier"),
        _drop("masterIdentifier"),
    ),
    Constraint(
        "IHE.MHD.UniqueIdIdentifier:masterIdentifier.use=usual",
        "document_references",
        lambda r: _need((r.get("masterIdentifier") or {}).get("use") == "usual", "masterIdentifier.use is not usual"),
        _set("masterIdentifier.use", "official"),
    ),
    Constraint(
        "IHE.MHD.UniqueIdIdentifier:masterIdentifier.system-1..",
        "document_references",
        lambda r: _need(bool((r.get("masterIdentifier") or {}).get("system")), "masterIdentifier.system missing"),
        _drop("masterIdentifier.system"),
    ),
    Constraint(
        "IHE.MHD.UniqueIdIdentifier:masterIdentifier.value-1..",
        "document_references",
        lambda r: _need(bool((r.get("masterIdentifier") or {}).get("value")), "masterIdentifier.value missing"),
        _drop("masterIdentifier.value"),
    ),
    Constraint(
        "IHE.MHD.EntryUUID.Identifier:identifier[entryUUID].system=urn:ietf:rfc:3986",
        "document_references",
        lambda r: (
            [
                f"official identifier {i} is not urn:ietf:rfc:3986"
                for i in _identifiers(r, "official")
                if i.get("system") != URI
            ]
            + _need(bool(_identifiers(r, "official")), "no entryUUID identifier (use official)")
        ),
        _set("identifier.system", "urn:quill:document"),
    ),
    Constraint(
        "mhd-startswithuuid:identifier[entryUUID].value",
        "document_references",
        lambda r: [
            f"official identifier {i} does not start with urn:uuid:"
            for i in _identifiers(r, "official")
            if not str(i.get("value", "")).startswith("urn:uuid:")
        ],
        _set("identifier.value", "0b9e5a3c-2f6d-4e1b-8a7c-5d4e3f2a1b0c"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:status-from-DocumentReferenceStats",
        "document_references",
        lambda r: _need(r.get("status") in {"current", "superseded"}, f"status {r.get('status')!r}"),
        _set("status", "entered-in-error"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:docStatus-0..0",
        "document_references",
        lambda r: _need("docStatus" not in r, "docStatus present"),
        _set("docStatus", "final"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:category-0..1",
        "document_references",
        lambda r: _need(len(r.get("category") or []) <= 1, "more than one category"),
        lambda r: r["category"].append(copy.deepcopy(r["category"][0])),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:subject-only-Reference(Patient)",
        "document_references",
        lambda r: _need(
            str((r.get("subject") or {}).get("reference", "")).startswith("Patient/"), "subject not a Patient"
        ),
        _set("subject.reference", "Group/1"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:content-1..1",
        "document_references",
        lambda r: _need(len(r.get("content") or []) == 1, "not exactly one content"),
        lambda r: r["content"].append(copy.deepcopy(r["content"][0])),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:content.attachment.contentType-1..1",
        "document_references",
        lambda r: _need(bool(_attachment(r).get("contentType")), "no contentType"),
        _drop("content.attachment.contentType"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:content.attachment.data-0..0",
        "document_references",
        lambda r: _need("data" not in _attachment(r), "attachment.data present"),
        _set("content.attachment.data", "JVBERi0="),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:content.attachment.url-1..1",
        "document_references",
        lambda r: _need(str(_attachment(r).get("url", "")).startswith("https://"), "no absolute attachment.url"),
        _drop("content.attachment.url"),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:relatesTo.target-Reference(DocumentReference)",
        "document_references",
        lambda r: [
            f"relatesTo target {relation['target']} is not a DocumentReference reference"
            for relation in r.get("relatesTo") or []
            if not str(relation.get("target", {}).get("reference", "")).startswith("DocumentReference/")
        ],
        _set("relatesTo.target", {"identifier": {"value": "x"}}),
        applies=lambda r: bool(r.get("relatesTo")),
    ),
    *[
        Constraint(
            f"IHE.MHD.UnContained.Comprehensive.DocumentReference:{path}-1..",
            "document_references",
            (lambda p: lambda r: _need(_has(r, p), f"{p} missing"))(path),
            _drop(path),
            applies=_comprehensive,
        )
        for path in (
            "type",
            "category",
            "subject",
            "securityLabel",
            "content.attachment.language",
            "content.attachment.creation",
            "content.format",
            "context",
            "context.facilityType",
            "context.practiceSetting",
            "context.sourcePatientInfo",
        )
    ],
    Constraint(
        "IHE.MHD.Comprehensive.DocumentReference:author-aggregation-contained",
        "document_references",
        lambda r: (
            [
                f"author {author} is not a contained resource"
                for author in r.get("author") or []
                if author.get("reference") not in _contained_ids(r)
            ]
            + _need(bool(r.get("author")), "no author")
        ),
        _set("author.reference", "Practitioner/42"),
        applies=_comprehensive,
    ),
    Constraint(
        "IHE.MHD.Comprehensive.DocumentReference:context.sourcePatientInfo-aggregation-contained",
        "document_references",
        lambda r: _need(
            ((r.get("context") or {}).get("sourcePatientInfo") or {}).get("reference") in _contained_ids(r),
            "sourcePatientInfo is not contained",
        ),
        _set("context.sourcePatientInfo.reference", "Patient/1"),
        applies=_comprehensive,
    ),
    Constraint(
        "dom-3:contained-resources-are-referenced",
        "document_references",
        lambda r: [f"{ref} is never referenced" for ref in _contained_ids(r) - set(_references(r))],
        lambda r: r["contained"].append({"resourceType": "Practitioner", "id": "orphan"}),
    ),
    Constraint(
        "IHE.MHD.Minimal.DocumentReference:no-invented-dates (creation and period only with a clinical date)",
        "document_references",
        lambda r: (
            _need(
                ("creation" in _attachment(r)) == ("period" in (r.get("context") or {})),
                "creation and context.period disagree",
            )
            + _need(("creation" in _attachment(r)) == _comprehensive(r), "a creation date without Comprehensive")
        ),
        _toggle_creation,
    ),
]


def _has(resource: dict[str, Any], path: str) -> bool:
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict) or value.get(part) in (None, "", [], {}):
            return False
        value = value[part]
    return True


def _extension(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [extension for extension in resource.get("extension") or [] if extension.get("url") == url]


SUBMISSION_SET_CONSTRAINTS = [
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:meta.profile-declared",
        "lists",
        lambda r: _need(SUBMISSION_SET in _profiles(r), "SubmissionSet profile not claimed"),
        _set("meta.profile", []),
    ),
    Constraint(
        "IHE.MHD.List:modifierExtension-0..0",
        "lists",
        lambda r: _need("modifierExtension" not in r, "modifierExtension present"),
        _set("modifierExtension", [{"url": "http://example.org/x", "valueBoolean": True}]),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:extension[sourceId]-1..1.valueIdentifier-1..1",
        "lists",
        lambda r: _need(
            len(_extension(r, MHD + "ihe-sourceId")) == 1
            and bool(_extension(r, MHD + "ihe-sourceId")[0].get("valueIdentifier", {}).get("value")),
            "sourceId extension missing",
        ),
        _set("extension", []),
    ),
    Constraint(
        "IHE.MHD.SubmissionSetUniqueIdIdentifier:identifier[uniqueId]-system=urn:ietf:rfc:3986",
        "lists",
        lambda r: _need(
            [i.get("system") for i in _identifiers(r, "usual")] == [URI], "uniqueId missing or not urn:ietf:rfc:3986"
        ),
        _set("identifier.system", "urn:quill:list"),
    ),
    Constraint(
        "mhd-startswithoid:identifier[uniqueId].value",
        "lists",
        lambda r: [
            f"{i} is no urn:oid:" for i in _identifiers(r, "usual") if not i.get("value", "").startswith("urn:oid:")
        ],
        _set("identifier.value", "1.2.3"),
    ),
    Constraint(
        "mhd-startswithuuid:identifier[entryUUID].value",
        "lists",
        lambda r: [
            f"{i} is no urn:uuid:"
            for i in _identifiers(r, "official")
            if not i.get("value", "").startswith("urn:uuid:")
        ],
        lambda r: r["identifier"].append({"use": "official", "system": URI, "value": "not-a-uuid"}),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:status=current",
        "lists",
        lambda r: _need(r.get("status") == "current", "status is not current"),
        _set("status", "retired"),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:mode=working",
        "lists",
        lambda r: _need(r.get("mode") == "working", "mode is not working"),
        _set("mode", "snapshot"),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:code=MHDlistTypes#submissionset",
        "lists",
        lambda r: _need(
            [(c.get("system"), c.get("code")) for c in (r.get("code") or {}).get("coding", [])]
            == [(LIST_TYPES, "submissionset")],
            "code is not submissionset",
        ),
        _set("code", {"coding": [{"system": LIST_TYPES, "code": "folder"}]}),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:subject-only-Reference(Patient)",
        "lists",
        lambda r: _need(
            str((r.get("subject") or {}).get("reference", "")).startswith("Patient/"), "subject not a Patient"
        ),
        _set("subject.reference", "Group/1"),
    ),
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:date-1..1",
        "lists",
        lambda r: _need(bool(r.get("date")), "no date"),
        _drop("date"),
    ),
    *[
        Constraint(
            f"IHE.MHD.Minimal.SubmissionSet:{element}-0..0",
            "lists",
            (lambda e: lambda r: _need(e not in r, f"{e} present"))(element),
            _set(element, value),
        )
        for element, value in (
            ("encounter", {"reference": "Encounter/1"}),
            ("orderedBy", {"text": "x"}),
            ("emptyReason", {"text": "x"}),
        )
    ],
    *[
        Constraint(
            f"IHE.MHD.Minimal.SubmissionSet:entry.{element}-0..0",
            "lists",
            (lambda e: lambda r: [f"entry.{e} present" for entry in r.get("entry") or [] if e in entry])(element),
            _set(f"entry.{element}", value),
        )
        for element, value in (("flag", {"text": "x"}), ("deleted", True), ("date", "2025-01-01"))
    ],
    Constraint(
        "IHE.MHD.Minimal.SubmissionSet:entry.item-only-Reference(DocumentReference|List)",
        "lists",
        lambda r: (
            [
                f"entry {entry} is not a DocumentReference or List"
                for entry in r.get("entry") or []
                if not str(entry.get("item", {}).get("reference", "")).startswith(("DocumentReference/", "List/"))
            ]
            + _need(bool(r.get("entry")), "no entries")
        ),
        _set("entry.item.reference", "Binary/1"),
    ),
]

BUNDLE_CONSTRAINTS = [
    *[
        Constraint(
            f"{profile}:type=searchset",
            kind,
            lambda r: _need(r.get("type") == "searchset", "type is not searchset"),
            _set("type", "collection"),
        )
        for profile, kind in (
            ("IHE.MHD.FindDocumentReferencesResponseMessage", "document_searchsets"),
            ("IHE.MHD.FindDocumentListsResponseMessage", "list_searchsets"),
        )
    ],
    *[
        Constraint(
            f"{profile}:total-1..",
            kind,
            lambda r: _need(isinstance(r.get("total"), int), "no total"),
            _drop("total"),
        )
        for profile, kind in (
            ("IHE.MHD.FindDocumentReferencesResponseMessage", "document_searchsets"),
            ("IHE.MHD.FindDocumentListsResponseMessage", "list_searchsets"),
        )
    ],
    *[
        Constraint(
            f"{profile}:entry.fullUrl-1..",
            kind,
            lambda r: (
                [
                    f"entry {i} has no fullUrl"
                    for i, entry in enumerate(r.get("entry") or [])
                    if not entry.get("fullUrl")
                ]
                + _need(bool(r.get("entry")), "no entries")
            ),
            _drop("entry.fullUrl"),
        )
        for profile, kind in (
            ("IHE.MHD.FindDocumentReferencesResponseMessage", "document_searchsets"),
            ("IHE.MHD.FindDocumentListsResponseMessage", "list_searchsets"),
        )
    ],
    Constraint(
        "IHE.MHD.FindDocumentReferencesResponseMessage:entry[DocumentReference].resource-only-Minimal",
        "document_searchsets",
        lambda r: [
            f"entry {i} claims no MHD DocumentReference profile"
            for i, entry in enumerate(r.get("entry") or [])
            if not {MINIMAL, COMPREHENSIVE} & set(_profiles(entry.get("resource") or {}))
        ],
        _set("entry.resource.meta", {}),
    ),
    Constraint(
        "IHE.MHD.FindDocumentListsResponseMessage:entry-closed-slicing(SubmissionSet|Folder)",
        "list_searchsets",
        lambda r: [
            f"entry {i} is not an MHD SubmissionSet List"
            for i, entry in enumerate(r.get("entry") or [])
            if (entry.get("resource") or {}).get("resourceType") != "List"
            or SUBMISSION_SET not in _profiles(entry["resource"])
        ],
        _set("entry.resource", {"resourceType": "OperationOutcome", "issue": []}),
    ),
    Constraint(
        "IHE.MHD.ProvideDocumentBundleResponse:type=transaction-response",
        "transaction_responses",
        lambda r: _need(r.get("type") == "transaction-response", "type is not transaction-response"),
        _set("type", "batch-response"),
    ),
    Constraint(
        "IHE.MHD.ProvideDocumentBundleResponse:entry-1..*.response.location-1..",
        "transaction_responses",
        lambda r: (
            [
                f"entry {i} has no response.location"
                for i, entry in enumerate(r.get("entry") or [])
                if not (entry.get("response") or {}).get("location")
            ]
            + _need(bool(r.get("entry")), "no entries")
        ),
        _drop("entry.response.location"),
    ),
    Constraint(
        # 201 for what was created; 202 with an informational outcome for what the inbox took (docs/fhir.md).
        "IHE.MHD.ProvideDocumentBundleResponse:entry.response.status-201-Created-or-202-Accepted-to-inbox",
        "transaction_responses",
        lambda r: [
            f"entry {i}: {entry['response'].get('status')}"
            for i, entry in enumerate(r.get("entry") or [])
            if not str(entry["response"].get("status", "")).startswith("201") and not _to_inbox(entry["response"])
        ],
        _set("entry.response.status", "200 OK"),
    ),
]


def _to_inbox(response: dict[str, Any]) -> bool:
    issues = (response.get("outcome") or {}).get("issue") or []
    return (
        str(response.get("status", "")).startswith("202")
        and str(response.get("location", "")).startswith("urn:uuid:")
        and bool(issues)
        and all(issue.get("severity") == "information" for issue in issues)
    )


CONSTRAINTS = DOCUMENT_REFERENCE + SUBMISSION_SET_CONSTRAINTS + BUNDLE_CONSTRAINTS


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=lambda constraint: constraint.id)
def test_every_served_resource_meets(served: Served, constraint: Constraint) -> None:
    resources = [resource for resource in served.of(constraint.kind) if constraint.applies(resource)]

    assert resources, f"no served {constraint.kind} to check {constraint.id} on"
    failures = {index: problems for index, resource in enumerate(resources) if (problems := constraint.check(resource))}
    assert failures == {}


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=lambda constraint: constraint.id)
def test_each_constraint_catches_its_violation(served: Served, constraint: Constraint) -> None:
    resource = copy.deepcopy(next(r for r in served.of(constraint.kind) if constraint.applies(r)))

    constraint.breaks(resource)

    assert constraint.check(resource), f"{constraint.id} did not notice the broken resource"


def test_the_session_served_both_profiles_and_every_kind(served: Served) -> None:
    profiles = {profile for resource in served.document_references for profile in _profiles(resource)}
    assert profiles == {MINIMAL, COMPREHENSIVE}
    assert {resource["status"] for resource in served.document_references} == {"current", "superseded"}
    assert len(served.lists) == 2 and len(served.document_searchsets) == 2
    statuses = [{entry["response"]["status"] for entry in r["entry"]} for r in served.transaction_responses]
    assert statuses == [{"201 Created"}, {"202 Accepted"}]
