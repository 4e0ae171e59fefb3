"""Retention: computing `retain_until`, purging what is due, and patients' erasure requests.

A purge removes a document's bytes (object and thumbnail) for good and keeps its row
as a tombstone (`purged_at` set; metadata and sha256 stay) with a `document.purged`
audit event. Nothing under a legal hold is ever removed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import cast

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record
from apps.documents.models import Document, ErasureDecision, ErasureRequest
from apps.documents.retention_rules import retain_until
from apps.documents.search.index import index_remove_pages
from apps.documents.services.pages import document_remove_renditions
from apps.documents.services.scanning import document_announce
from apps.files import storage
from apps.patients.models import Patient
from quill.compiled import CompiledLookup
from quill.errors import ValidationFailed


def patient_retention_recompute(*, patient_id: uuid.UUID | str, dry_run: bool = False) -> int:
    """Set `retain_until` on every document of one patient; returns how many changed (or would).

    Reads the record's last clinical date from the documents themselves (the authority, needed
    after a date is changed to an earlier one) and keeps the patient row's copy of it in step.
    The patient row is locked first, so two uploads for one patient recompute one after
    the other and the second sees the first's clinical date (never a too-short retention).
    """
    with transaction.atomic():
        patient = Patient.objects.select_for_update().only("date_of_birth", "last_clinical_date").get(pk=patient_id)
        documents = Document.objects.filter(patient_id=patient_id)
        last_date = documents.aggregate(last=Max("document_date"))["last"]
        if not dry_run and patient.last_clinical_date != last_date:
            Patient.objects.filter(pk=patient_id).update(last_clinical_date=last_date)
        if last_date is None:
            return 0
        changed = 0
        for category in documents.order_by().values_list("category", flat=True).distinct():
            until = retain_until(birth_date=patient.date_of_birth, last_clinical_date=last_date, category=category)
            stale = documents.filter(category=category).exclude(retain_until=until)
            changed += stale.count() if dry_run else stale.update(retain_until=until)
    return changed


def _patient_locked(pk: uuid.UUID) -> QuerySet[Patient]:
    # By primary key: no ORDER BY. Only what the retention rule needs.
    return Patient.objects.select_for_update().only("date_of_birth", "last_clinical_date").filter(pk=pk).order_by()


# Every upload takes this lock: compiled by Django once per process (quill/compiled.py;
# tests/documents/test_record_last_date.py checks it against the ORM).
PATIENT_LOCK = CompiledLookup(_patient_locked, field=Patient._meta.pk, placeholder=uuid.UUID(int=0))


def retention_for_new_documents(*, patient_id: uuid.UUID | str, documents: list[Document]) -> bool:
    """Set `retain_until` on documents about to be inserted; True when the patient's others need recomputing.

    Call inside the transaction that inserts them, before the insert. One statement locks the
    patient row and reads the record's last clinical date kept on it (never the documents
    themselves, so the cost does not grow with the record); it is moved on, under that lock,
    when a new date is later. The lock serialises concurrent uploads for one patient, and
    ``FOR UPDATE`` returns the row as the previous holder committed it, so each sees the
    others' dates. Only when a new clinical date is later than every stored one does the rest
    of the record need :func:`patient_retention_recompute`; otherwise the stored documents'
    retention is unchanged and no other row is touched.
    """
    date_field = Document._meta.get_field("document_date")
    for document in documents:
        document.document_date = date_field.to_python(document.document_date)
    patient = PATIENT_LOCK.get(patient_id)
    if patient is None:
        raise Patient.DoesNotExist(f"No patient {patient_id} to lock.")
    stored_last = patient.last_clinical_date
    newest = max(document.document_date for document in documents)
    last = newest if stored_last is None else max(stored_last, newest)
    if last != stored_last:
        Patient.objects.filter(pk=patient_id).update(last_clinical_date=last)
    for document in documents:
        document.retain_until = retain_until(
            birth_date=patient.date_of_birth, last_clinical_date=last, category=document.category
        )
    return stored_last is not None and newest > stored_last


def patients_last_clinical_date_refresh(*, patient_ids: list[uuid.UUID] | None = None) -> int:
    """Set each patient's last clinical date from their documents (all patients, or those given).

    For rows written around the upload services (an archive restore, seeded benchmark data);
    one grouped statement. Returns how many patients it set.
    """
    latest = Document.objects.filter(patient_id=OuterRef("pk")).order_by().values("patient_id")
    patients = Patient.objects.all() if patient_ids is None else Patient.objects.filter(pk__in=patient_ids)
    return patients.update(last_clinical_date=Subquery(latest.annotate(last=Max("document_date")).values("last")))


def patients_with_documents(*, organisation_id: str | None = None) -> QuerySet[Patient]:
    patients = Patient.objects.filter(Exists(Document.objects.filter(patient_id=OuterRef("pk"))))
    if organisation_id:
        patients = patients.filter(organisation_id=organisation_id)
    return patients.order_by("pk")


def documents_due(*, organisation_id: str | None = None, today: date | None = None) -> QuerySet[Document]:
    """Documents whose retention period has ended (retain_until before today) and still have their bytes."""
    today = today or timezone.localdate()
    documents = Document.objects.filter(retain_until__lt=today, purged_at__isnull=True)
    if organisation_id:
        documents = documents.filter(organisation_id=organisation_id)
    return documents


def _deleted() -> Q:
    """Soft-deleted, or an older version of a document whose current version is soft-deleted."""
    deleted_lineages = Document.objects.filter(is_current=True, deleted_at__isnull=False).values("lineage_id")
    return Q(deleted_at__isnull=False) | Q(lineage_id__in=deleted_lineages)


def _erasure_accepted() -> Q:
    accepted = ErasureRequest.objects.filter(patient_id=OuterRef("patient_id"), decision=ErasureDecision.ACCEPTED)
    return Q(Exists(accepted))


def documents_to_purge(*, organisation_id: str | None = None, today: date | None = None) -> QuerySet[Document]:
    """Due, not held, and either soft-deleted or covered by an accepted erasure request."""
    return (
        documents_due(organisation_id=organisation_id, today=today)
        .filter(legal_hold=False)
        .filter(_deleted() | _erasure_accepted())
        .order_by("organisation_id", "pk")
    )


def document_purge(*, document_id: uuid.UUID | str, today: date | None = None) -> bool:
    """Remove one document's bytes for good, if it is (still) due for purging; True if purged.

    The row is locked while the objects are removed, so a legal hold or a restore
    committed meanwhile wins. StorageUnavailable leaves the document untouched.
    """
    today = today or timezone.localdate()
    with transaction.atomic():
        document = documents_to_purge(today=today).select_for_update(of=("self",)).filter(pk=document_id).first()
        if document is None:
            return False
        erasure = ErasureRequest.objects.filter(
            patient_id=document.patient_id, decision=ErasureDecision.ACCEPTED
        ).first()
        storage.delete(document.storage_key)
        storage.delete(document.thumbnail_key)
        if document.text_rendition_key:
            storage.delete(document.text_rendition_key)
        renditions_removed = document_remove_renditions(document=document)
        # The text read from the bytes goes with them (it is as much the patient's record).
        index_remove_pages(document_id=document.pk)
        document.purged_at = timezone.now()
        document.save(update_fields=["purged_at", "updated_at"])
        # The copy on the external FHIR server must not outlive the bytes: its sync deletes it there.
        document_announce(document=document)
        audit_record(
            action=Action.DOCUMENT_PURGED,
            actor=None,
            actor_username="system:retention",
            organisation_id=document.organisation_id,
            patient_id=document.patient_id,
            object_type="document",
            object_id=document.pk,
            details={
                "reason": "erasure" if erasure and document.deleted_at is None else "retention",
                "erasure_request": str(erasure.pk) if erasure else None,
                "retain_until": cast(date, document.retain_until).isoformat(),  # set: documents_due filters on it
                "sha256": document.sha256,
                "size": document.size,
                "storage_key": document.storage_key,
                "thumbnail_key": document.thumbnail_key,
                "searchable_pdf_key": document.text_rendition_key,
                "renditions_removed": renditions_removed,
            },
        )
    return True


def erasure_requests_complete() -> list[ErasureRequest]:
    """Mark accepted requests whose patient has no bytes left as completed (audited)."""
    completed = []
    for request in ErasureRequest.objects.filter(decision=ErasureDecision.ACCEPTED).select_related("patient"):
        if Document.objects.filter(patient_id=request.patient_id, purged_at__isnull=True).exists():
            continue
        with transaction.atomic():
            updated = ErasureRequest.objects.filter(pk=request.pk, decision=ErasureDecision.ACCEPTED).update(
                decision=ErasureDecision.COMPLETED, completed_at=timezone.now()
            )
            if updated:
                _audit_erasure(request, action=Action.PATIENT_ERASURE_COMPLETED, details={"request": str(request.pk)})
                completed.append(request)
    return completed


# --- Erasure requests -------------------------------------------------------------------------


def erasure_request_record(
    *,
    patient: Patient,
    requested_by: str,
    reason: str,
    actor: User | None = None,
    received_at: datetime | None = None,
    today: date | None = None,
) -> ErasureRequest:
    """Record a patient's erasure request and decide it at once.

    Refused while any document is under a legal hold or still within retention (with the
    date retention ends); otherwise accepted, and the next `purge_expired --confirm`
    carries it out.
    """
    today = today or timezone.localdate()
    requested_by, reason = (requested_by or "").strip(), (reason or "").strip()
    if not requested_by:
        raise ValidationFailed("Say who asked for the erasure (the patient, or who acts for them).")
    if len(reason) < 5:
        raise ValidationFailed("Give the reason the request states (at least a few words).")
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)
        patient_retention_recompute(patient_id=patient.pk)
        remaining = Document.objects.filter(patient_id=patient.pk, purged_at__isnull=True)
        held = remaining.filter(legal_hold=True).count()
        retained = remaining.filter(Q(retain_until__gte=today) | Q(retain_until__isnull=True))
        ends = retained.aggregate(last=Max("retain_until"))["last"]
        if held:
            decision, ends = ErasureDecision.REFUSED, None
            why = f"{held} of the patient's documents are under a legal hold; nothing may be removed while it applies."
        elif retained.exists():
            decision = ErasureDecision.REFUSED
            why = (
                f"{retained.count()} of the patient's documents are within their retention period, "
                f"which ends on {ends.isoformat()}; they must be kept until then."
            )
        else:
            decision = ErasureDecision.ACCEPTED
            why = (
                f"No retention period or legal hold applies; {remaining.count()} document(s) will be "
                "permanently removed by the next purge (purge_expired --confirm)."
            )
        request = ErasureRequest.objects.create(
            organisation_id=patient.organisation_id,
            patient=patient,
            requested_by=requested_by[:200],
            recorded_by=actor,
            reason=reason,
            received_at=received_at or timezone.now(),
            decision=decision,
            decision_reason=why,
            retention_ends=ends if decision == ErasureDecision.REFUSED else None,
        )
        _audit_erasure(
            request,
            action=Action.PATIENT_ERASURE_REQUESTED,
            actor=actor,
            outcome=Outcome.DENIED if decision == ErasureDecision.REFUSED else Outcome.SUCCESS,
            details={
                "request": str(request.pk),
                "requested_by": request.requested_by,
                "reason": reason,
                "decision": decision.value,
                "decision_reason": why,
                "retention_ends": ends.isoformat() if ends and decision == ErasureDecision.REFUSED else None,
            },
        )
    return request


def _audit_erasure(request: ErasureRequest, *, action: Action, actor=None, outcome=Outcome.SUCCESS, details=None):
    audit_record(
        action=action,
        actor=actor,
        actor_username="" if actor else "system:retention",
        organisation_id=request.organisation_id,
        patient_id=request.patient_id,
        object_type="erasure_request",
        object_id=request.pk,
        outcome=outcome,
        details=details or {},
    )
