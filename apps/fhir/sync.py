"""Outbound FHIR sync: the outbox handlers that push DocumentReferences and Patients.

The relay (``apps.outbox.tasks.relay_message``) calls these with the row-locked
``OutboxMessage``. Each handler sends the object's *current* state by conditional
update, so a repeated delivery (after a timeout whose write did land, or a resync)
updates the one resource on the server instead of creating another.

Errors: ``FhirRetryableError`` becomes ``RetryableDelivery`` (the relay backs off,
honouring ``Retry-After``); ``FhirRejectedError`` and anything Quill cannot map become
``TerminalDelivery`` with an OperationOutcome, and the document's ``fhir_sync_state``
becomes ``failed`` (also when the last retry is used up).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any, NoReturn, cast

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document, SyncState
from apps.fhir.errors import (
    FhirConfigurationError,
    FhirDeleteRefused,
    FhirRejectedError,
    FhirResourceGone,
    FhirRetryableError,
    FhirVersionConflict,
)
from apps.outbox.errors import RetryableDelivery, TerminalDelivery
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from apps.outbox.services import fhir_enabled, outbox_enqueue, outbox_requeue
from apps.patients.models import Patient
from quill.errors import QuillError
from quill.oauth import OAuthRefused, oauth_config, token_source
from quill.tls import service_tls

from . import codes
from .client import AuthMode, FhirClient, FhirWriteResult
from .facts import DOCUMENT_FACT_RELATIONS, document_facts, patient_facts
from .mapping import SubjectMode, document_reference, operation_outcome, patient_resource

logger = logging.getLogger(__name__)

DOCUMENT_KIND = "document_reference"
PATIENT_KIND = "patient"
# When the row is locked by a change in progress, try again shortly (that change will
# announce itself again, and the next delivery sends its result).
LOCKED_RETRY_SECONDS = 5.0


def fhir_client() -> FhirClient:
    """A client for the configured server (``QUILL_FHIR_*`` settings)."""
    tls = service_tls("fhir")
    try:
        tokens = token_source(oauth_config("fhir")) if settings.QUILL_FHIR_AUTH == "oauth2" else None
    except OAuthRefused as exc:
        raise FhirConfigurationError(str(exc)) from exc
    return FhirClient(
        settings.QUILL_FHIR_BASE_URL,
        auth=cast(AuthMode, settings.QUILL_FHIR_AUTH),  # settings.py accepts only these four
        username=settings.QUILL_FHIR_USERNAME or None,
        password=settings.QUILL_FHIR_PASSWORD or None,
        token=settings.QUILL_FHIR_TOKEN or None,
        timeout=settings.QUILL_FHIR_TIMEOUT_SECONDS,
        token_source=tokens,
        verify=tls.verify,
        cert=tls.cert,
    )


# --- Handlers ------------------------------------------------------------------------------------


def deliver_document_reference(message: OutboxMessage) -> dict[str, Any]:
    """Push one document's DocumentReference (and its Patient first, in reference mode).

    A document that was soft-deleted or purged (erasure, retention) is deleted on the server,
    so the remote copy does not outlive it; where the server refuses deletion, its copy is
    marked ``entered-in-error`` instead. MHD's status value set has only current and
    superseded, so that fallback is the only time another status leaves Quill.
    """
    document = _lock(Document.objects.select_related(*DOCUMENT_FACT_RELATIONS), message.object_id, what="document")
    if document.deleted_at is not None or document.purged_at is not None:
        return _withdraw_document(message, document)
    if document.scan_status not in AVAILABLE_SCAN_STATUSES:
        # Only clean (or unscanned, scanner disabled) documents ever leave Quill.
        Document.objects.filter(pk=document.pk, fhir_sync_state=SyncState.PENDING).update(
            fhir_sync_state=SyncState.SYNCED if document.fhir_id else SyncState.NOT_CONFIGURED
        )
        return {"skipped": f"scan status is {document.scan_status}; only clean documents are sent"}
    subject_mode = settings.QUILL_FHIR_SUBJECT_MODE
    try:
        with fhir_client() as client:
            patient_result = None
            if subject_mode == "reference" and not document.patient.fhir_id:
                patient_result = _push_patient(client, document.patient)
            resource = document_reference(
                document_facts(document),
                base_url=_public_base_url(),
                subject_mode=cast(SubjectMode, subject_mode),  # settings.py accepts only these two
            )
            result = _write_document(client, document, resource)
    except Exception as exc:
        _raise_delivery_error(exc, message, on_failure=lambda: _mark_document_failed(document))
    _mark_document_synced(document, result)
    response = {"resourceType": "DocumentReference", "status": resource["status"], **_result_json(result)}
    if patient_result is not None:
        response["patient"] = _result_json(patient_result)
    return response


def _write_document(client: FhirClient, document: Document, resource: dict[str, Any]) -> FhirWriteResult:
    """First write: conditional update on the Quill identifier. Later ones: If-Match on the version seen."""
    if not document.fhir_id:
        return client.put_document_reference(resource)
    try:
        return _update_if_match(client, "DocumentReference", document.fhir_id, resource, document.fhir_version_id)
    except FhirResourceGone:
        # Deleted there (by someone, or by an earlier erasure that was then undone): write it afresh.
        return client.put_document_reference(resource)


def _update_if_match(
    client: FhirClient, resource_type: str, resource_id: str, resource: dict[str, Any], version_id: str | None
) -> FhirWriteResult:
    """PUT with If-Match; on 412 re-read the server's version and try once more (Quill's record wins)."""
    try:
        return client.update(resource_type, resource_id, resource, version_id=version_id or None)
    except FhirVersionConflict:
        current = client.read_version(resource_type, resource_id)
        return client.update(resource_type, resource_id, resource, version_id=current)


def _withdraw_document(message: OutboxMessage, document: Document) -> dict[str, Any]:
    """Delete the remote copy of a deleted or purged document; entered-in-error where deletion is refused."""
    if not document.fhir_id:
        Document.objects.filter(pk=document.pk).update(fhir_sync_state=SyncState.NOT_CONFIGURED)
        return {"skipped": "never sent to the FHIR server, so nothing to remove there"}
    try:
        with fhir_client() as client:
            try:
                client.delete("DocumentReference", document.fhir_id)
            except FhirDeleteRefused:
                result = _mark_remote_entered_in_error(client, document)
                _mark_document_synced(document, result)
                return {"resourceType": "DocumentReference", "status": "entered-in-error", **_result_json(result)}
    except Exception as exc:
        _raise_delivery_error(exc, message, on_failure=lambda: _mark_document_failed(document))
    Document.objects.filter(pk=document.pk).update(
        fhir_version_id="", fhir_sync_state=SyncState.SYNCED, fhir_synced_at=timezone.now()
    )
    return {"deleted": f"DocumentReference/{document.fhir_id}"}


def _mark_remote_entered_in_error(client: FhirClient, document: Document) -> FhirWriteResult:
    facts = dataclasses.replace(document_facts(document), status="entered-in-error")
    subject_mode = cast(SubjectMode, settings.QUILL_FHIR_SUBJECT_MODE)
    if subject_mode == "reference" and not document.patient.fhir_id:
        subject_mode = "identifier"  # never create a Patient only to withdraw a document
    resource = document_reference(facts, base_url=_public_base_url(), subject_mode=subject_mode)
    return _update_if_match(client, "DocumentReference", document.fhir_id, resource, document.fhir_version_id)


def _mark_document_synced(document: Document, result: FhirWriteResult) -> None:
    Document.objects.filter(pk=document.pk).update(
        fhir_id=result.id,
        fhir_version_id=result.version_id or "",
        fhir_sync_state=SyncState.SYNCED,
        fhir_synced_at=timezone.now(),
    )


def _public_base_url() -> str:
    """Where the synced attachment URLs point: there is no request to take it from, so it must be set."""
    if not settings.QUILL_PUBLIC_BASE_URL:
        raise FhirConfigurationError(
            "Set QUILL_PUBLIC_BASE_URL: the DocumentReferences sent to the FHIR server link to Quill by it."
        )
    return settings.QUILL_PUBLIC_BASE_URL


def deliver_patient(message: OutboxMessage) -> dict[str, Any]:
    """Push one Patient (skipped when documents reference patients by NHS number)."""
    if settings.QUILL_FHIR_SUBJECT_MODE == "identifier":
        return {"skipped": "QUILL_FHIR_SUBJECT_MODE=identifier: documents name the patient by identifier"}
    patient = _lock(Patient.objects.all(), message.object_id, what="patient")
    try:
        with fhir_client() as client:
            result = _update_patient(client, patient) if patient.fhir_id else _push_patient(client, patient)
    except Exception as exc:
        _raise_delivery_error(exc, message)
    return {"resourceType": "Patient", **_result_json(result)}


def register_handlers() -> None:
    """Called from DocumentsConfig.ready()."""
    from apps.outbox.handlers import register

    register(Target.FHIR, DOCUMENT_KIND, deliver_document_reference)
    register(Target.FHIR, PATIENT_KIND, deliver_patient)


# --- Resync (manage.py resync_fhir) ---------------------------------------------------------------


def fhir_patient_announce(*, patient: Patient) -> OutboxMessage | None:
    """Queue the FHIR sync of a patient (call in the transaction that changed it)."""
    return outbox_enqueue(
        target=Target.FHIR, kind=PATIENT_KIND, object_id=str(patient.pk), organisation_id=patient.organisation_id
    )


def documents_to_resync(*, failed: bool = False, document_id: uuid.UUID | str | None = None) -> QuerySet[Document]:
    """Documents the resync command would queue: one by id, the failed ones, or every sendable one."""
    documents = Document.objects.filter(scan_status__in=AVAILABLE_SCAN_STATUSES, purged_at__isnull=True)
    if document_id is not None:
        documents = documents.filter(pk=document_id)
    if failed:
        documents = documents.filter(fhir_sync_state=SyncState.FAILED)
    return documents.order_by("uploaded_at", "pk")


def dead_patient_messages() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(target=Target.FHIR, kind=PATIENT_KIND, status=MessageStatus.DEAD)


def document_fhir_resync(*, document: Document) -> OutboxMessage | None:
    """Queue one document again: revive its dead message, or announce it afresh."""
    if not fhir_enabled():
        raise QuillError("FHIR sync is off: set QUILL_FHIR_BASE_URL first.")
    with transaction.atomic():
        messages = OutboxMessage.objects.filter(target=Target.FHIR, kind=DOCUMENT_KIND, object_id=str(document.pk))
        pending = messages.filter(status=MessageStatus.PENDING).first()
        dead = messages.filter(status=MessageStatus.DEAD).order_by("-created_at").first()
        message: OutboxMessage | None
        if pending is None and dead is not None:
            outbox_requeue(messages=OutboxMessage.objects.filter(pk=dead.pk))
            message = OutboxMessage.objects.get(pk=dead.pk)
        else:
            message = outbox_enqueue(
                target=Target.FHIR,
                kind=DOCUMENT_KIND,
                object_id=str(document.pk),
                organisation_id=document.organisation_id,
            )
        Document.objects.filter(pk=document.pk).update(fhir_sync_state=SyncState.PENDING)
    return message


def patient_messages_resync(*, messages: QuerySet[OutboxMessage]) -> int:
    """Give dead Patient messages a fresh start."""
    with transaction.atomic():
        return outbox_requeue(messages=messages)


# --- Helpers -------------------------------------------------------------------------------------


def _lock(queryset: QuerySet, object_id: str, *, what: str):
    """The row, locked; a row locked by a change in progress is retried shortly (no deadlock)."""
    row = queryset.select_for_update(skip_locked=True, of=("self",)).filter(pk=object_id).first()
    if row is not None:
        return row
    if queryset.model.objects.filter(pk=object_id).exists():
        raise RetryableDelivery(f"The {what} is being changed; trying again shortly.", retry_after=LOCKED_RETRY_SECONDS)
    raise TerminalDelivery(f"The {what} {object_id} no longer exists.")


def _push_patient(client: FhirClient, patient: Patient) -> FhirWriteResult:
    """Find the Patient on the server by NHS number, or create it (If-None-Exist); remember its id."""
    resource = patient_resource(patient_facts(patient))
    if patient.nhs_number:
        system, value = codes.NHS_NUMBER_SYSTEM, patient.nhs_number
    else:
        system, value = codes.QUILL_PATIENT_SYSTEM, str(patient.pk)
    result = client.create_patient(resource, system=system, value=value)
    Patient.objects.filter(pk=patient.pk).update(fhir_id=result.id)
    patient.fhir_id = result.id
    return result


def _update_patient(client: FhirClient, patient: Patient) -> FhirWriteResult:
    """A demographic change: update the Patient Quill linked, with If-Match on its current version."""
    resource = patient_resource(patient_facts(patient))
    try:
        version = client.read_version("Patient", patient.fhir_id)
        return _update_if_match(client, "Patient", patient.fhir_id, resource, version)
    except FhirResourceGone:
        Patient.objects.filter(pk=patient.pk).update(fhir_id="")
        patient.fhir_id = ""
        return _push_patient(client, patient)


def _result_json(result: FhirWriteResult) -> dict[str, Any]:
    return {"id": result.id, "versionId": result.version_id, "created": result.created}


def _mark_document_failed(document: Document) -> None:
    Document.objects.filter(pk=document.pk).update(fhir_sync_state=SyncState.FAILED)


def _last_attempt(message: OutboxMessage) -> bool:
    return message.attempts + 1 >= settings.QUILL_OUTBOX_MAX_ATTEMPTS


def _raise_delivery_error(exc: Exception, message: OutboxMessage, *, on_failure=None) -> NoReturn:
    """Translate a FHIR or mapping error into the outbox's retryable/terminal outcome."""
    if isinstance(exc, FhirRetryableError):
        if on_failure is not None and _last_attempt(message):
            on_failure()
        raise RetryableDelivery(exc.message, retry_after=exc.retry_after) from exc
    if isinstance(exc, FhirRejectedError):
        if on_failure is not None:
            on_failure()
        outcome = exc.operation_outcome or operation_outcome("error", "processing", exc.message)
        raise TerminalDelivery(exc.message, response=outcome) from exc
    if isinstance(exc, QuillError):
        # The mapping or the settings refused it; sending again unchanged would not help.
        if on_failure is not None:
            on_failure()
        logger.error("FHIR sync refused before sending", extra={"message_id": message.pk, "error": exc.message})
        raise TerminalDelivery(exc.message, response=operation_outcome("error", "invalid", exc.message)) from exc
    raise exc
