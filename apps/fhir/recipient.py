"""ITI-65 Provide Document Bundle: Quill as an IHE MHD Document Recipient.

A transaction Bundle (one SubmissionSet ``List``, its DocumentReferences and their
Binaries) goes through the same upload pipeline as every other upload
(``document_upload_bulk``: validation, size limit, hashing, storage, virus scan, audit,
FHIR sync), all or nothing: one refused document refuses the bundle with an
OperationOutcome naming its entry, and nothing is stored. The SubmissionSet row is written
in the documents' own transaction. A resent bundle (same SubmissionSet uniqueId and the
same masterIdentifiers) answers the original result again.

The bundle's documents arrive already spooled to disk by ``bundle_stream.read_bundle``;
this module checks the metadata, resolves the patient in the caller's organisation and
stores.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from fhir.resources.R4B.bundle import Bundle

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record
from apps.documents.models import Document
from apps.documents.services import UploadRequest, document_upload_bulk
from apps.files.errors import FileTooLarge
from apps.files.spooling import SpooledFile, spool
from apps.files.validation import EXTENSIONS
from apps.patients.models import Patient
from apps.patients.selectors import patients_visible_to
from quill.errors import QuillError

from . import codes
from .bundle_stream import ReadBundle, named_too_large
from .errors import (
    AttachmentMismatch,
    DuplicateSubmission,
    ProvideBundleInvalid,
    ProvideBundleNotSupported,
    UnresolvedReference,
)
from .mapping import validate_resource
from .models import MhdSettings, SubmissionSet, SubmissionSetEntry
from .responder import TokenParam
from .selectors import patient_identifier_condition

MAX_DOCUMENTS_SETTING = "QUILL_MAX_BULK_FILES"


@dataclass
class ReceivedDocument:
    """One DocumentReference of the bundle with its content, ready for the upload pipeline."""

    index: int
    full_url: str
    master_identifier: tuple[str, str]
    item: UploadRequest
    binary_index: int | None


@dataclass
class ProvidePlan:
    """Everything checked and resolved; nothing stored yet."""

    submission_set_index: int
    unique_id: str
    entry_uuid: str
    source_id: str
    title: str
    submitted_at: dt.datetime
    patient: Patient | None  # None: not a patient of the caller's organisation, so the bundle goes to the inbox
    documents: list[ReceivedDocument]
    patient_entries: list[int] = field(default_factory=list)
    entry_count: int = 0
    submission_set_id: uuid.UUID = field(default_factory=uuid.uuid4)
    subject: dict[str, Any] = field(default_factory=dict)
    bundled_patient: dict[str, Any] = field(default_factory=dict)

    @property
    def master_identifiers(self) -> set[tuple[str, str]]:
        return {document.master_identifier for document in self.documents}


@dataclass(frozen=True)
class ProvideResult:
    """The transaction-response Bundle and whether it answers a resent bundle."""

    response: dict[str, Any]
    submission_set_id: uuid.UUID
    resent: bool


# --- The service -----------------------------------------------------------------------------------


def document_bundle_provide(*, actor: User, bundle: ReadBundle, max_documents: int) -> ProvideResult:
    """Store an ITI-65 bundle's documents for one patient of ``actor``'s organisation, all or nothing."""
    try:
        plan = _plan(actor, bundle, max_documents=max_documents)
        if plan.patient is None:
            from .recipient_inbox import bundle_to_inbox

            return bundle_to_inbox(actor, plan)
        previous = _previous_result(actor, plan)
        if previous is not None:
            _discard(plan)
            return _answer_again(actor, previous, plan)
        try:
            return _store(actor, plan)
        except IntegrityError:
            # The same bundle arrived twice at once and the other one committed first.
            previous = _previous_result(actor, plan)
            if previous is None:
                raise
            return _answer_again(actor, previous, plan)
    except QuillError as exc:
        _audit_refusal(actor, exc)
        raise
    finally:
        bundle.discard()


def _store(actor: User, plan: ProvidePlan) -> ProvideResult:
    patient = plan.patient
    assert patient is not None, "a bundle without a patient here goes to the inbox"
    response = _response_bundle(plan)

    def write_submission_set(documents: list[Document]) -> None:
        submission_set = SubmissionSet.objects.create(
            id=plan.submission_set_id,
            organisation_id=patient.organisation_id,
            patient=patient,
            unique_id=plan.unique_id,
            entry_uuid=plan.entry_uuid,
            source_id=plan.source_id,
            title=plan.title,
            submitted_at=plan.submitted_at,
            received_by=actor,
            response=response,
        )
        SubmissionSetEntry.objects.bulk_create(
            SubmissionSetEntry(
                document=document,
                submission_set=submission_set,
                organisation_id=patient.organisation_id,
                master_identifier_system=received.master_identifier[0],
                master_identifier_value=received.master_identifier[1],
                position=position,
            )
            for position, (received, document) in enumerate(zip(plan.documents, documents, strict=True))
        )
        _audit_received(actor, plan, resent=False)

    outcomes = document_upload_bulk(
        actor=actor,
        patient=patient,
        items=[document.item for document in plan.documents],
        with_rows=write_submission_set,
    )
    for received, outcome in zip(plan.documents, outcomes, strict=True):
        if outcome.error is not None:
            raise _name_entry(outcome.error, received)
    return ProvideResult(response=response, submission_set_id=plan.submission_set_id, resent=False)


def _name_entry(error: QuillError, received: ReceivedDocument) -> QuillError:
    """The upload pipeline's refusal of one file, restated as the bundle's refusal naming the entry."""
    system, value = received.master_identifier
    error.message = (
        f"Bundle.entry[{received.index}] (DocumentReference {received.full_url}, masterIdentifier "
        f"{system}|{value}): {error.message} Nothing from this bundle was stored."
    )
    error.data["entry"] = received.index
    error.args = (error.message,)
    return error


def _discard(plan: ProvidePlan) -> None:
    for document in plan.documents:
        document.item.discard()


# --- Idempotency -----------------------------------------------------------------------------------


def _previous_result(actor: User, plan: ProvidePlan) -> SubmissionSet | None:
    """The SubmissionSet this bundle repeats, None if it is new; refuses a reuse for other content."""
    assert plan.patient is not None, "a bundle without a patient here goes to the inbox"
    organisation_id = plan.patient.organisation_id
    by_unique_id = SubmissionSet.objects.filter(organisation_id=organisation_id, unique_id=plan.unique_id).first()
    wanted = plan.master_identifiers
    matches = _entries_with_master_identifiers(organisation_id, wanted)
    if by_unique_id is None and not matches:
        return None
    previous = by_unique_id
    if previous is None:
        previous_ids = {entry.submission_set_id for entry in matches}
        previous = SubmissionSet.objects.filter(pk__in=previous_ids).first() if len(previous_ids) == 1 else None
    if previous is not None and previous.patient_id == plan.patient.pk and _identifiers_of(previous) == wanted:
        return previous
    if by_unique_id is not None:
        raise DuplicateSubmission(
            f"The SubmissionSet uniqueId {plan.unique_id} was already received with different documents "
            f"(SubmissionSet {by_unique_id.pk}); give a new submission a new uniqueId.",
            entry=plan.submission_set_index,
        )
    first = next(entry for entry in plan.documents if entry.master_identifier in _pairs(matches))
    raise DuplicateSubmission(
        f"Bundle.entry[{first.index}]: the masterIdentifier {first.master_identifier[0]}|"
        f"{first.master_identifier[1]} belongs to a document Quill already received in another "
        "SubmissionSet; a new document needs a new masterIdentifier. Nothing from this bundle was stored.",
        entry=first.index,
    )


def _entries_with_master_identifiers(organisation_id: Any, wanted: set[tuple[str, str]]) -> list[SubmissionSetEntry]:
    entries = SubmissionSetEntry.objects.filter(
        organisation_id=organisation_id, master_identifier_value__in=[value for _, value in wanted]
    )
    return [entry for entry in entries if (entry.master_identifier_system, entry.master_identifier_value) in wanted]


def _pairs(entries: Iterable[SubmissionSetEntry]) -> set[tuple[str, str]]:
    return {(entry.master_identifier_system, entry.master_identifier_value) for entry in entries}


def _identifiers_of(submission_set: SubmissionSet) -> set[tuple[str, str]]:
    return _pairs(submission_set.entries.all())


def _answer_again(actor: User, previous: SubmissionSet, plan: ProvidePlan) -> ProvideResult:
    _audit_received(actor, plan, resent=True, submission_set_id=previous.pk)
    return ProvideResult(response=previous.response, submission_set_id=previous.pk, resent=True)


# --- Reading the bundle ----------------------------------------------------------------------------


def _plan(actor: User, bundle: ReadBundle, *, max_documents: int) -> ProvidePlan:
    resource = bundle.resource
    _check_bundle(resource)
    entries = resource.get("entry") or []
    by_full_url = _entries_by_full_url(entries)
    lists = [i for i, entry in enumerate(entries) if _type(entry) == "List"]
    references = [i for i, entry in enumerate(entries) if _type(entry) == "DocumentReference"]
    binaries = [i for i, entry in enumerate(entries) if _type(entry) == "Binary"]
    patients = [i for i, entry in enumerate(entries) if _type(entry) == "Patient"]
    for index, entry in enumerate(entries):
        _check_entry_kind(index, entry)
    if len(lists) != 1:
        raise ProvideBundleInvalid(f"The bundle must carry exactly one SubmissionSet List; it has {len(lists)}.")
    if not references:
        raise ProvideBundleInvalid("The bundle carries no DocumentReference, so there is nothing to store.")
    if len(references) > max_documents:
        raise ProvideBundleInvalid(
            f"The bundle carries {len(references)} documents; Quill takes at most {max_documents} per bundle."
        )
    list_index = lists[0]
    submission_set = entries[list_index]["resource"]
    _check_submission_set(list_index, submission_set, entries, by_full_url, references)
    subject = submission_set.get("subject")
    patient: Patient | None
    try:
        patient = _resolve_patient(actor, list_index, subject, entries, by_full_url)
    except UnresolvedReference:
        if not unknown_patient_to_inbox(actor):
            raise
        patient = None  # another organisation's patient is unresolved here too, so it comes this way alike
    documents = []
    used_binaries: dict[int, int] = {}
    seen_identifiers: dict[tuple[str, str], int] = {}
    try:
        for index in references:
            document = _received_document(actor, bundle, index, entries, by_full_url, patient)
            if document.master_identifier in seen_identifiers:
                raise ProvideBundleInvalid(
                    f"Bundle.entry[{index}] repeats the masterIdentifier of Bundle.entry"
                    f"[{seen_identifiers[document.master_identifier]}]; each document needs its own.",
                    entry=index,
                )
            seen_identifiers[document.master_identifier] = index
            if document.binary_index is not None:
                if document.binary_index in used_binaries:
                    raise ProvideBundleInvalid(
                        f"Bundle.entry[{index}] and Bundle.entry[{used_binaries[document.binary_index]}] point at "
                        "the same Binary; each document needs its own.",
                        entry=index,
                    )
                used_binaries[document.binary_index] = index
            documents.append(document)
        for index in binaries:
            if index not in used_binaries:
                raise ProvideBundleInvalid(
                    f"Bundle.entry[{index}] is a Binary no DocumentReference points at.", entry=index
                )
    except BaseException:
        for document in documents:
            document.item.discard()
        raise
    identifier = _submission_set_identifiers(list_index, submission_set)
    return ProvidePlan(
        submission_set_index=list_index,
        unique_id=identifier["usual"],
        entry_uuid=identifier.get("official", ""),
        source_id=_source_id(list_index, submission_set),
        title=(submission_set.get("title") or "")[:255],
        submitted_at=_instant(list_index, submission_set.get("date"), "List.date"),
        patient=patient,
        documents=documents,
        patient_entries=patients,
        entry_count=len(entries),
        subject=subject,
        bundled_patient=_bundled_patient(subject, entries, by_full_url),
    )


def unknown_patient_to_inbox(actor: User) -> bool:
    """Whether the caller's organisation takes a bundle for a patient it cannot resolve into its inbox."""
    if actor.organisation_id is None:
        return False
    enabled = (
        MhdSettings.objects.filter(organisation_id=actor.organisation_id)
        .values_list("unknown_patient_to_inbox", flat=True)
        .first()
    )
    return bool(enabled)


def _bundled_patient(subject: Any, entries: list[Any], by_full_url: dict[str, int]) -> dict[str, Any]:
    """The Patient resource the subject points at inside the bundle, if it does."""
    reference = str((subject or {}).get("reference") or "") if isinstance(subject, dict) else ""
    index = by_full_url.get(reference)
    if index is None or _type(entries[index]) != "Patient":
        return {}
    return dict(entries[index]["resource"])


def _type(entry: Any) -> str | None:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return resource.get("resourceType") if isinstance(resource, dict) else None


def _method(entry: dict[str, Any]) -> str:
    return str((entry.get("request") or {}).get("method") or "").upper()


def _entries_by_full_url(entries: list[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, entry in enumerate(entries):
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if full_url:
            if full_url in found:
                raise ProvideBundleInvalid(f"Bundle.entry[{index}] repeats the fullUrl {full_url!r}.", entry=index)
            found[full_url] = index
    return found


def _check_bundle(resource: dict[str, Any]) -> None:
    if resource.get("resourceType") != "Bundle" or resource.get("type") != "transaction":
        raise ProvideBundleInvalid("ITI-65 needs a Bundle of type 'transaction' POSTed to the FHIR base.")
    profiles = set((resource.get("meta") or {}).get("profile") or [])
    if profiles and not profiles & codes.MHD_PROVIDE_BUNDLE_PROFILES:
        raise ProvideBundleInvalid(
            "The Bundle declares no MHD ProvideBundle profile (Minimal, UnContained Comprehensive or Comprehensive)."
        )
    if not isinstance(resource.get("entry"), list) or not resource["entry"]:
        raise ProvideBundleInvalid("The Bundle has no entries.")


def _check_entry_kind(index: int, entry: Any) -> None:
    """Closed slicing of the MHD ProvideBundle: only what Quill's Recipient takes."""
    kind, method = _type(entry), _method(entry) if isinstance(entry, dict) else ""
    if kind is None:
        raise ProvideBundleInvalid(f"Bundle.entry[{index}] carries no resource.", entry=index)
    if kind == "List":
        code = _codings(entry["resource"].get("code") or {})
        if (codes.MHD_LIST_TYPES_SYSTEM, "folder") in code:
            raise ProvideBundleNotSupported(
                f"Bundle.entry[{index}] is a Folder; Quill keeps no Folders (PartialFolderContentNotProcessed), "
                "so the bundle is refused whole.",
                entry=index,
            )
        if (codes.MHD_LIST_TYPES_SYSTEM, "submissionset") not in code:
            raise ProvideBundleInvalid(
                f"Bundle.entry[{index}] is a List whose code is not {codes.MHD_LIST_TYPES_SYSTEM}|submissionset.",
                entry=index,
            )
    elif kind == "Parameters" or method == "PATCH":
        raise ProvideBundleNotSupported(
            f"Bundle.entry[{index}] replaces a DocumentReference by PATCH; upload a new version through "
            "Quill's API instead.",
            entry=index,
        )
    elif kind == "Bundle":
        raise ProvideBundleNotSupported(
            f"Bundle.entry[{index}] is a FHIR Document (FHIRDocumentNotSupported).", entry=index
        )
    elif kind == "Patient":
        if method != "GET":
            raise ProvideBundleNotSupported(
                f"Bundle.entry[{index}] would create or update a Patient; Quill only files documents for "
                "patients it already knows.",
                entry=index,
            )
        return
    elif kind not in ("DocumentReference", "Binary"):
        raise ProvideBundleInvalid(f"Bundle.entry[{index}] is a {kind}, which an MHD bundle cannot carry.", entry=index)
    if method != "POST":
        raise ProvideBundleInvalid(f"Bundle.entry[{index}] ({kind}) must be a POST, not {method or 'nothing'}.")


def _codings(concept: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    return {(coding.get("system"), coding.get("code")) for coding in concept.get("coding") or []}


# --- SubmissionSet ---------------------------------------------------------------------------------


def _check_submission_set(
    index: int, resource: dict[str, Any], entries: list[Any], by_full_url: dict[str, int], references: list[int]
) -> None:
    if resource.get("status") != "current" or resource.get("mode") != "working":
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: a SubmissionSet has status 'current' and mode 'working'.", entry=index
        )
    listed = []
    for item in resource.get("entry") or []:
        target = by_full_url.get(((item or {}).get("item") or {}).get("reference") or "")
        if target is None or _type(entries[target]) != "DocumentReference":
            raise ProvideBundleInvalid(
                f"Bundle.entry[{index}]: SubmissionSet entry {item!r} does not point at a DocumentReference "
                "in this bundle.",
                entry=index,
            )
        listed.append(target)
    missing = sorted(set(references) - set(listed))
    if missing:
        raise ProvideBundleInvalid(
            f"Bundle.entry[{missing[0]}] is a DocumentReference the SubmissionSet does not list.", entry=missing[0]
        )


def _submission_set_identifiers(index: int, resource: dict[str, Any]) -> dict[str, str]:
    """uniqueId (use usual, an urn:oid:, required here for idempotency) and entryUUID (use official)."""
    found: dict[str, str] = {}
    for identifier in resource.get("identifier") or []:
        use, system, value = identifier.get("use"), identifier.get("system"), identifier.get("value") or ""
        if use == "usual" and system == codes.URI_SYSTEM and value.startswith("urn:oid:"):
            found["usual"] = value[:255]
        elif use == "official" and system == codes.URI_SYSTEM and value.startswith("urn:uuid:"):
            found["official"] = value[:255]
    if "usual" not in found:
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: the SubmissionSet needs its uniqueId: an identifier with use 'usual', "
            "system urn:ietf:rfc:3986 and a value starting urn:oid: (mhd-startswithoid).",
            entry=index,
        )
    return found


def _source_id(index: int, resource: dict[str, Any]) -> str:
    for extension in resource.get("extension") or []:
        if extension.get("url") == codes.MHD_SOURCE_ID_EXTENSION:
            value = (extension.get("valueIdentifier") or {}).get("value")
            if value:
                return str(value)[:255]
    raise ProvideBundleInvalid(
        f"Bundle.entry[{index}]: the SubmissionSet needs the sourceId extension ({codes.MHD_SOURCE_ID_EXTENSION}).",
        entry=index,
    )


def _instant(index: int, value: Any, element: str) -> dt.datetime:
    instant = parse_datetime(value) if isinstance(value, str) else None
    if instant is None or instant.tzinfo is None:
        raise ProvideBundleInvalid(f"Bundle.entry[{index}]: {element} must be an instant with a timezone.", entry=index)
    return instant


# --- Patient ---------------------------------------------------------------------------------------


def _resolve_patient(actor: User, index: int, subject: Any, entries: list[Any], by_full_url: dict[str, int]) -> Patient:
    """The patient a subject names, within the caller's organisation; UnresolvedReference otherwise."""
    if not isinstance(subject, dict) or not (subject.get("reference") or subject.get("identifier")):
        raise ProvideBundleInvalid(f"Bundle.entry[{index}] needs a subject (the patient).", entry=index)
    tokens: list[TokenParam] = []
    reference = str(subject.get("reference") or "")
    if reference in by_full_url and _type(entries[by_full_url[reference]]) == "Patient":
        bundled = entries[by_full_url[reference]]["resource"]
        tokens += [_token(identifier) for identifier in bundled.get("identifier") or []]
    elif reference:
        patient_id = reference.rstrip("/").rsplit("/", 1)[-1]
        if reference.removesuffix(patient_id).rstrip("/").endswith("Patient"):
            tokens.append(TokenParam(codes.QUILL_PATIENT_SYSTEM, patient_id))
    if subject.get("identifier"):
        tokens.append(_token(subject["identifier"]))
    found = {
        patient.pk: patient
        for token in tokens
        if token.system in _PATIENT_SYSTEMS and token.code
        for patient in patients_visible_to(actor).filter(patient_identifier_condition(token))[:2]
    }
    if len(found) == 1:
        return next(iter(found.values()))
    if len(found) > 1:
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: the subject's identifiers name {len(found)} different patients.", entry=index
        )
    raise UnresolvedReference(
        f"UnresolvedReferenceException: Bundle.entry[{index}] names a patient ({_describe(subject)}) that is not "
        "a patient of your organisation in Quill. Register the patient first; nothing from this bundle was stored.",
        entry=index,
    )


_PATIENT_SYSTEMS = frozenset({codes.NHS_NUMBER_SYSTEM, codes.QUILL_MRN_SYSTEM, codes.QUILL_PATIENT_SYSTEM})


def _token(identifier: Any) -> TokenParam:
    identifier = identifier if isinstance(identifier, dict) else {}
    return TokenParam(identifier.get("system"), str(identifier.get("value") or "") or None)


def _describe(subject: dict[str, Any]) -> str:
    if subject.get("reference"):
        return str(subject["reference"])
    identifier = subject.get("identifier") or {}
    return f"{identifier.get('system')}|{identifier.get('value')}"


# --- DocumentReference -----------------------------------------------------------------------------


def _document_patient(
    actor: User, index: int, subject: Any, entries: list[Any], by_full_url: dict[str, int], expected: Patient | None
) -> Patient | None:
    """The DocumentReference's patient; for an inbox-bound bundle (``expected`` None), None when unresolved."""
    try:
        return _resolve_patient(actor, index, subject, entries, by_full_url)
    except UnresolvedReference:
        if expected is not None:
            raise
        return None


def _received_document(
    actor: User,
    bundle: ReadBundle,
    index: int,
    entries: list[Any],
    by_full_url: dict[str, int],
    patient: Patient | None,
) -> ReceivedDocument:
    entry = entries[index]
    resource = entry["resource"]
    if resource.get("status") != "current":
        raise ProvideBundleInvalid(f"Bundle.entry[{index}]: a new DocumentReference has status 'current'.", entry=index)
    master = resource.get("masterIdentifier") or {}
    if not master.get("system") or not master.get("value"):
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: the DocumentReference needs a masterIdentifier (system and value): "
            "the document's uniqueId.",
            entry=index,
        )
    if _document_patient(actor, index, resource.get("subject"), entries, by_full_url, patient) != patient:
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}] is for a different patient than its SubmissionSet; one bundle, one patient.",
            entry=index,
        )
    content = resource.get("content") or []
    if len(content) != 1 or not isinstance(content[0].get("attachment"), dict):
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: the DocumentReference needs exactly one content with an attachment.", entry=index
        )
    attachment = content[0]["attachment"]
    content_type = str(attachment.get("contentType") or "").split(";")[0].strip().lower()
    if not content_type:
        raise ProvideBundleInvalid(f"Bundle.entry[{index}]: attachment.contentType is required.", entry=index)
    spooled, binary_index = _content(bundle, index, attachment, entries, by_full_url, content_type)
    try:
        _check_size_and_hash(index, attachment, spooled)
        item = UploadRequest(
            spooled=spooled,
            filename="document." + (EXTENSIONS.get(content_type, ("bin",))[0] or "dcm"),
            category=_category(resource),
            title=_title(resource, attachment),
            encounter_id=_encounter(resource),
            document_date=_clinical_date(index, resource, attachment),
        )
    except BaseException:
        spooled.discard()
        raise
    return ReceivedDocument(
        index=index,
        full_url=str(entry.get("fullUrl") or ""),
        master_identifier=(str(master["system"])[:255], str(master["value"])[:255]),
        item=item,
        binary_index=binary_index,
    )


def _content(
    bundle: ReadBundle,
    index: int,
    attachment: dict[str, Any],
    entries: list[Any],
    by_full_url: dict[str, int],
    content_type: str,
) -> tuple[SpooledFile, int | None]:
    """The document's bytes: from the Binary its url points at, or from attachment.data."""
    if attachment.get("data") is not None:
        return _decoded(bundle, index, attachment["data"]), None
    url = str(attachment.get("url") or "")
    binary_index = by_full_url.get(url)
    if binary_index is None or _type(entries[binary_index]) != "Binary":
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: attachment.url {url!r} does not point at a Binary in this bundle "
            "(use the Binary entry's fullUrl), and there is no attachment.data.",
            entry=index,
        )
    binary = entries[binary_index]["resource"]
    binary_type = str(binary.get("contentType") or "").split(";")[0].strip().lower()
    if binary_type != content_type:
        raise AttachmentMismatch(
            f"Bundle.entry[{index}]: attachment.contentType {content_type!r} differs from its Binary's "
            f"({binary_type!r}).",
            entry=index,
        )
    if binary.get("data") is None:
        raise ProvideBundleInvalid(f"Bundle.entry[{binary_index}]: the Binary has no data.", entry=binary_index)
    return _decoded(bundle, binary_index, binary["data"]), binary_index


def _decoded(bundle: ReadBundle, index: int, data: Any) -> SpooledFile:
    spill = bundle.spill_for(data)
    if spill is not None:
        return spill.spooled
    if not isinstance(data, str):
        raise ProvideBundleInvalid(f"Bundle.entry[{index}]: document data must be base64 text.", entry=index)
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProvideBundleInvalid(f"Bundle.entry[{index}]: document data is not base64 ({exc}).", entry=index) from exc
    try:
        return spool([decoded], max_bytes=bundle.max_document_bytes or len(decoded), tmp_dir=bundle.tmp_dir)
    except FileTooLarge as exc:
        raise named_too_large(exc, index) from exc


def _check_size_and_hash(index: int, attachment: dict[str, Any], spooled: SpooledFile) -> None:
    """MHD: .size and .hash measure the raw document; when sent, they must describe what came."""
    size = attachment.get("size")
    if size is not None and size != spooled.size:
        raise AttachmentMismatch(
            f"Bundle.entry[{index}]: attachment.size says {size} bytes but the document has {spooled.size}.",
            entry=index,
        )
    declared = attachment.get("hash")
    if declared is None:
        return
    try:
        digest = base64.b64decode(str(declared), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if digest.hex() != spooled.sha1:
        raise AttachmentMismatch(
            f"Bundle.entry[{index}]: attachment.hash is not the SHA-1 of the document (base64 of the 20-byte "
            "digest expected).",
            entry=index,
        )


def _category(resource: dict[str, Any]) -> str:
    """The Quill category: from urn:quill:category, else from a type code Quill maps, else 'other'."""
    for concept in resource.get("category") or []:
        for system, code in _codings(concept):
            if system == codes.QUILL_CATEGORY_SYSTEM and code in codes.QUILL_CATEGORIES:
                return str(code)
    for system, code in _codings(resource.get("type") or {}):
        for category, mapped in codes.CATEGORY_CODES.items():
            if (system, code) == (mapped.type.system, mapped.type.code):
                return category
    return "other"


def _title(resource: dict[str, Any], attachment: dict[str, Any]) -> str:
    for text in (attachment.get("title"), resource.get("description"), (resource.get("type") or {}).get("text")):
        if isinstance(text, str) and text.strip():
            return text.strip()[:255]
    return "Document"


def _encounter(resource: dict[str, Any]) -> str:
    for encounter in (resource.get("context") or {}).get("encounter") or []:
        value = (encounter.get("identifier") or {}).get("value")
        if value:
            return str(value)[:64]
    return ""


def _clinical_date(index: int, resource: dict[str, Any], attachment: dict[str, Any]) -> dt.date | None:
    """attachment.creation, else context.period.start; none given stays none (never the upload date)."""
    value = attachment.get("creation") or ((resource.get("context") or {}).get("period") or {}).get("start")
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ProvideBundleInvalid(
            f"Bundle.entry[{index}]: {value!r} is not a FHIR date for attachment.creation.", entry=index
        ) from None


# --- Response and audit ----------------------------------------------------------------------------


def _response_bundle(plan: ProvidePlan) -> dict[str, Any]:
    """transaction-response: one entry per request entry, in order, each with its location."""
    assert plan.patient is not None, "a bundle without a patient here goes to the inbox"
    locations: dict[int, tuple[str, str]] = {
        plan.submission_set_index: ("201 Created", f"List/{plan.submission_set_id}")
    }
    for document in plan.documents:
        document_id = document.item.document_id
        locations[document.index] = ("201 Created", f"DocumentReference/{document_id}")
        if document.binary_index is not None:
            locations[document.binary_index] = ("201 Created", f"Binary/{document_id}")
    for index in plan.patient_entries:
        locations[index] = ("200 OK", f"Patient/{plan.patient.pk}")
    now = timezone.now()
    response = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [codes.MHD_PROVIDE_BUNDLE_RESPONSE_PROFILE]},
        "type": "transaction-response",
        "entry": [
            {"response": {"status": locations[index][0], "location": locations[index][1], "lastModified": now}}
            for index in range(plan.entry_count)
        ],
    }
    return validate_resource(Bundle, response)


def _audit_received(actor: User, plan: ProvidePlan, *, resent: bool, submission_set_id: Any = None) -> None:
    audit_record(
        action=Action.FHIR_BUNDLE_RECEIVED,
        actor=actor,
        patient_id=plan.patient.pk if plan.patient is not None else None,
        object_type="submission_set",
        object_id=submission_set_id or plan.submission_set_id,
        details={
            "unique_id": plan.unique_id,
            "source_id": plan.source_id,
            "documents": [str(document.item.document_id) for document in plan.documents] if not resent else [],
            "resent": resent,
        },
    )


def _audit_refusal(actor: User, error: QuillError) -> None:
    with transaction.atomic():
        audit_record(
            action=Action.FHIR_BUNDLE_REFUSED,
            actor=actor,
            object_type="submission_set",
            outcome=Outcome.DENIED,
            details={"error_code": error.error_code, "entry": error.data.get("entry"), "message": error.message},
        )
