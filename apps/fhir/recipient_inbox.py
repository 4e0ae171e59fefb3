"""ITI-65 for a patient Quill cannot resolve: the bundle's documents become unfiled inbox items.

Used when the organisation's MHD settings have ``unknown_patient_to_inbox`` on. A patient
of another organisation is unresolved here exactly like an unknown one, so its bundle
takes this path too and the answer reveals nothing.

Each DocumentReference with its Binary goes through the inbox pipeline
(``inbox_receive_spooled`` on the organisation's API source: validation, size limit,
hashing, storage, virus scan, audit), with the bundle's patient details as hints and the
submission's identifiers as provenance. All or nothing: every document is validated
before any is stored, the items are written in one transaction, and a failure removes
the objects already stored. Idempotent: each item's source identity is its
masterIdentifier, so the same bundle again answers the same items and stores nothing.

The transaction-response answers ``202 Accepted`` for the List, each DocumentReference
and each Binary, with ``location`` naming the inbox item (``urn:uuid:<item id>``) and an
informational OperationOutcome: the content was accepted, but no DocumentReference exists
until a person files it (``docs/fhir.md``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from fhir.resources.R4B.bundle import Bundle

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.files import storage
from apps.files.errors import UploadRejected
from apps.files.validation import validate
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.serializers import InboxHintsSerializer
from apps.inbox.services.intake import inbox_api_source, inbox_receive_spooled
from quill.errors import QuillError

from . import codes
from .errors import DuplicateSubmission
from .mapping import validate_resource
from .models import SubmissionSet, SubmissionSetEntry
from .recipient import ProvidePlan, ProvideResult, _name_entry

INBOX_STATUS = "202 Accepted"
INBOX_OUTCOME = (
    "The patient is not one Quill could resolve in your organisation, so this was accepted into the "
    "organisation's inbox as an unfiled item for a person to file; no DocumentReference exists until then."
)


def bundle_to_inbox(actor: User, plan: ProvidePlan) -> ProvideResult:
    """Store each document of ``plan`` as an inbox item of ``actor``'s organisation, all or nothing."""
    assert actor.organisation_id is not None, "only an organisation's account has an inbox"
    try:
        previous = _previous_items(actor, plan)
        if previous is not None:
            return _answer(actor, plan, previous, resent=True)
        for document in plan.documents:
            try:
                validate(
                    document.item.spooled, filename=document.item.filename, max_pixels=settings.QUILL_MAX_IMAGE_PIXELS
                )
            except UploadRejected as exc:
                raise _name_entry(exc, document) from exc
        items = _store(actor, plan)
        if items is None:  # the same bundle arrived twice at once and the other one committed first
            previous = _previous_items(actor, plan)
            assert previous is not None, "an item of this bundle was there a moment ago"
            return _answer(actor, plan, previous, resent=True)
        return _answer(actor, plan, items, resent=False, audited=True)
    finally:
        for document in plan.documents:
            document.item.discard()


def _identity(master_identifier: tuple[str, str]) -> str:
    return f"mhd:{master_identifier[0]}|{master_identifier[1]}"


def _store(actor: User, plan: ProvidePlan) -> list[InboxItem] | None:
    """The new items, in bundle order; None, with nothing kept, if another request stored an item first."""
    source = inbox_api_source(organisation_id=actor.organisation_id)  # type: ignore[arg-type]
    submission = str(uuid.uuid4())
    hints = _hints(plan)
    stored: list[InboxItem] = []
    raced = False
    try:
        with transaction.atomic():
            for document in plan.documents:
                received = inbox_receive_spooled(
                    actor=actor,
                    source=source,
                    filename=document.item.filename,
                    spooled=document.item.spooled,
                    source_identity=_identity(document.master_identifier),
                    hints=hints,
                    provenance=_provenance(actor, plan, document, submission),
                )
                if not received.created:
                    raced = True
                    transaction.set_rollback(True)
                    break
                stored.append(received.item)
                if received.item.state == ItemState.REFUSED:  # validated above; a refusal here still refuses all
                    error = QuillError(received.item.refusal_reason)
                    error.error_code = received.item.refusal_code
                    error.http_status = 422
                    raise _name_entry(error, document)
            if not raced:
                _audit_received(actor, plan, stored, submission, resent=False)
    except BaseException:
        _remove_objects(stored)
        raise
    if raced:
        _remove_objects(stored)
        return None
    return stored


def _remove_objects(items: list[InboxItem]) -> None:
    for item in items:
        if item.storage_key:
            storage.delete(item.storage_key)


def _previous_items(actor: User, plan: ProvidePlan) -> list[InboxItem] | None:
    """The inbox items this bundle repeats, in bundle order; None if it is new; refuses a partial reuse."""
    organisation_id = actor.organisation_id
    assert organisation_id is not None, "only an organisation's account has an inbox"
    wanted = [_identity(document.master_identifier) for document in plan.documents]
    found = {
        item.source_identity: item
        for item in InboxItem.objects.filter(organisation_id=organisation_id, source_identity__in=wanted)
    }
    stored_bundle = SubmissionSet.objects.filter(organisation_id=organisation_id, unique_id=plan.unique_id).exists()
    stored_document = next(
        (
            document
            for document in plan.documents
            if SubmissionSetEntry.objects.filter(
                organisation_id=organisation_id,
                master_identifier_system=document.master_identifier[0],
                master_identifier_value=document.master_identifier[1],
            ).exists()
        ),
        None,
    )
    if len(found) == len(wanted) and not stored_bundle and stored_document is None:
        return [found[identity] for identity in wanted]
    if stored_bundle:
        raise DuplicateSubmission(
            f"The SubmissionSet uniqueId {plan.unique_id} was already received with different documents; "
            "give a new submission a new uniqueId.",
            entry=plan.submission_set_index,
        )
    first = stored_document or next(
        (document for document in plan.documents if _identity(document.master_identifier) in found), None
    )
    if first is None:
        return None
    raise DuplicateSubmission(
        f"Bundle.entry[{first.index}]: the masterIdentifier {first.master_identifier[0]}|"
        f"{first.master_identifier[1]} belongs to a document Quill already received in another "
        "SubmissionSet; a new document needs a new masterIdentifier. Nothing from this bundle was stored.",
        entry=first.index,
    )


# --- Hints and provenance --------------------------------------------------------------------------


def _hints(plan: ProvidePlan) -> dict[str, str]:
    """The bundle's patient details as inbox hints; a detail the inbox would refuse is left out."""
    patient, subject = plan.bundled_patient, plan.subject or {}
    identifiers = [*(patient.get("identifier") or []), subject.get("identifier") or {}]
    raw: dict[str, Any] = {}
    for identifier in identifiers:
        system, value = identifier.get("system"), identifier.get("value")
        if system == codes.NHS_NUMBER_SYSTEM and value:
            raw.setdefault("nhs_number", str(value))
        elif system == codes.QUILL_MRN_SYSTEM and value:
            raw.setdefault("mrn", str(value))
    names = patient.get("name") or []
    if names:
        if names[0].get("family"):
            raw["family_name"] = str(names[0]["family"])
        if names[0].get("given"):
            raw["given_name"] = str(names[0]["given"][0])
    if patient.get("birthDate"):
        raw["date_of_birth"] = str(patient["birthDate"])
    hints: dict[str, str] = {}
    for key, value in raw.items():
        serializer = InboxHintsSerializer(data={key: value})
        if serializer.is_valid():
            hints[key] = str(serializer.validated_data[key])
    return hints


def _provenance(actor: User, plan: ProvidePlan, document: Any, submission: str) -> dict[str, Any]:
    subject = plan.subject or {}
    return {
        "channel": "mhd-iti65",
        "api_user": actor.email,
        "submission": submission,
        "submission_set_unique_id": plan.unique_id,
        "submission_set_entry_uuid": plan.entry_uuid,
        "source_id": plan.source_id,
        "submission_title": plan.title,
        "submitted_at": plan.submitted_at.isoformat(),
        "master_identifier": f"{document.master_identifier[0]}|{document.master_identifier[1]}",
        "document_title": document.item.title,
        "document_category": document.item.category,
        "document_date": document.item.document_date.isoformat() if document.item.document_date else "",
        "subject": str(subject.get("reference") or "")
        or "{system}|{value}".format(**{"system": "", "value": "", **(subject.get("identifier") or {})}),
    }


# --- Response and audit ----------------------------------------------------------------------------


def _answer(
    actor: User, plan: ProvidePlan, items: list[InboxItem], *, resent: bool, audited: bool = False
) -> ProvideResult:
    submission = str(items[0].provenance.get("submission") or items[0].pk)
    if not audited:
        with transaction.atomic():
            _audit_received(actor, plan, items, submission, resent=resent)
    return ProvideResult(
        response=_response(plan, items, submission), submission_set_id=uuid.UUID(submission), resent=resent
    )


def _response(plan: ProvidePlan, items: list[InboxItem], submission: str) -> dict[str, Any]:
    received_at = min(item.received_at for item in items)
    locations = dict.fromkeys([plan.submission_set_index, *plan.patient_entries], f"urn:uuid:{submission}")
    for document, item in zip(plan.documents, items, strict=True):
        locations[document.index] = f"urn:uuid:{item.pk}"
        if document.binary_index is not None:
            locations[document.binary_index] = f"urn:uuid:{item.pk}"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": INBOX_OUTCOME}],
    }
    response = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [codes.MHD_PROVIDE_BUNDLE_RESPONSE_PROFILE]},
        "type": "transaction-response",
        "entry": [
            {
                "response": {
                    "status": INBOX_STATUS,
                    "location": locations[index],
                    "lastModified": received_at,
                    "outcome": outcome,
                }
            }
            for index in range(plan.entry_count)
        ],
    }
    return validate_resource(Bundle, response)


def _audit_received(actor: User, plan: ProvidePlan, items: list[InboxItem], submission: str, *, resent: bool) -> None:
    audit_record(
        action=Action.FHIR_BUNDLE_RECEIVED,
        actor=actor,
        object_type="submission_set",
        object_id=submission,
        details={
            "unique_id": plan.unique_id,
            "source_id": plan.source_id,
            "to_inbox": True,
            "inbox_items": [str(item.pk) for item in items] if not resent else [],
            "resent": resent,
        },
    )
