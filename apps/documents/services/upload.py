"""Uploading documents: validate, store the object, then one transaction for row + audit.

If the object store fails, no row is written. If the database fails after the
object was written, the object is removed. A bulk upload is all-or-nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.errors import InvalidCategory
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Category, Document, ScanStatus
from apps.documents.permissions import ensure_may_file_category, ensure_not_sealed
from apps.documents.services.retention import patient_retention_recompute, retention_for_new_documents
from apps.documents.services.scanning import document_announce
from apps.files import storage
from apps.files.errors import DigestMismatch, UploadRejected
from apps.files.filenames import clean_filename, split_extension
from apps.files.spooling import SpooledFile
from apps.files.streaming import ObjectTarget, StreamingPut
from apps.files.validation import EXTENSIONS, ValidatedFile, sniff, validate
from apps.patients.models import Patient
from quill.errors import QuillError
from quill.queue import enqueue_on_commit

logger = logging.getLogger(__name__)


@dataclass
class UploadRequest:
    """One file and the metadata that goes with it.

    ``declared_sha256`` is the digest the client sent (``Repr-Digest``), checked
    against the bytes received; ``streamed`` is an S3 multipart upload of these
    bytes already under way (see ``apps.files.streaming``), completed only
    once every check has passed, under ``document_id``. ``sealed`` marks the
    signed rendering of another record (a final letter's PDF), which only that
    record's amendment may supersede. ``details_refusal`` is a refusal the caller
    met while reading this file's own details (a clinical date that is not a date):
    the file is refused with it, so a bulk upload reports it beside every other
    file's outcome and stores nothing.
    """

    spooled: SpooledFile
    filename: str
    category: str
    title: str = ""
    encounter_id: str = ""
    document_date: date | None = None
    validated: ValidatedFile | None = field(default=None, repr=False)
    document_id: uuid.UUID = field(default_factory=uuid.uuid4)
    declared_sha256: str = ""
    streamed: StreamingPut | None = field(default=None, repr=False)
    sealed: bool = False
    details_refusal: QuillError | None = field(default=None, repr=False)

    def discard(self) -> None:
        """Remove the temp file and drop a streamed upload that was not completed."""
        self.spooled.discard()
        if self.streamed is not None and not self.streamed.completed:
            self.streamed.abort()


@dataclass
class BulkOutcome:
    filename: str
    document: Document | None = None
    error: QuillError | None = None

    @property
    def stored(self) -> bool:
        return self.document is not None


def _check_category(category: str, actor: User, *, patient_id: Any, replacing: Document | None) -> None:
    if not category:
        raise InvalidCategory("Choose a category for this file.")
    if category not in Category.values:
        raise InvalidCategory()
    ensure_may_file_category(
        user=actor,
        category=category,
        attempted="document.new_version" if replacing else "document.upload",
        document=replacing,
        patient_id=patient_id,
    )


def _prepare(item: UploadRequest, actor: User, *, patient_id: Any, replacing: Document | None = None) -> None:
    """Everything that can refuse a file before anything is stored (outside any transaction: refusals are audited)."""
    if item.details_refusal is not None:
        raise item.details_refusal
    _check_category(item.category, actor, patient_id=patient_id, replacing=replacing)
    item.filename = clean_filename(item.filename)
    if item.declared_sha256 and item.declared_sha256 != item.spooled.sha256:
        raise DigestMismatch(declared=item.declared_sha256, received=item.spooled.sha256)
    item.validated = validate(item.spooled, filename=item.filename, max_pixels=settings.QUILL_MAX_IMAGE_PIXELS)


def _storage_key(patient: Patient, document_id: uuid.UUID, extension: str) -> str:
    return storage.document_key(
        organisation_id=patient.organisation_id,
        patient_id=patient.pk,
        document_id=document_id,
        extension=extension,
        on=timezone.localdate(),
    )


def document_stream_target(
    *, patient: Patient, document_id: uuid.UUID, head: bytes, declared_sha256: str
) -> ObjectTarget | None:
    """Where a new document's bytes may be streamed while they arrive, or None to put them afterwards.

    Needs the client's declared SHA-256 (it goes into the object's metadata before
    the first part) and a recognisable type (it decides the key's extension); the
    full checks still run on the whole file before the object is completed.
    """
    content_type = sniff(head)
    if not declared_sha256 or content_type is None:
        return None
    return ObjectTarget(
        key=_storage_key(patient, document_id, EXTENSIONS[content_type][0]),
        content_type=content_type,
        sha256=declared_sha256,
    )


def _new_document(
    item: UploadRequest,
    *,
    actor: User,
    patient: Patient,
    document_id: uuid.UUID,
    lineage_id: uuid.UUID,
    version_number: int,
    supersedes: Document | None,
) -> Document:
    validated = cast(ValidatedFile, item.validated)  # set by _prepare, which every caller runs first
    key = _storage_key(patient, document_id, validated.extension)
    title = (item.title or "").strip() or split_extension(item.filename)[0] or item.filename
    return Document(
        id=document_id,
        organisation_id=patient.organisation_id,
        patient=patient,
        encounter_id=(item.encounter_id or "").strip(),
        title=title[:255],
        category=item.category,
        # Without a clinical date the upload date stands in for list ordering and retention;
        # document_date_given keeps the difference, so FHIR never presents it as clinical.
        document_date=item.document_date or timezone.localdate(),
        document_date_given=item.document_date is not None,
        original_filename=item.filename,
        content_type=validated.content_type,
        size=item.spooled.size,
        sha256=item.spooled.sha256,
        sha1=item.spooled.sha1,
        storage_key=key,
        scan_status=ScanStatus.PENDING if settings.QUILL_SCANNER != "none" else ScanStatus.NOT_SCANNED,
        uploaded_by=actor,
        lineage_id=lineage_id,
        version_number=version_number,
        supersedes=supersedes,
        sealed=item.sealed,
    )


def _put_objects(pairs: list[tuple[UploadRequest, Document]]) -> None:
    stored: list[str] = []
    try:
        for item, document in pairs:
            streamed = item.streamed
            if streamed is not None and (
                streamed.key == document.storage_key and streamed.target.content_type == document.content_type
            ):
                streamed.complete()
                stored.append(document.storage_key)
                continue
            storage.put_file(
                key=document.storage_key,
                path=item.spooled.path,
                sha256=document.sha256,
                content_type=document.content_type,
            )
            stored.append(document.storage_key)
    except BaseException:
        _remove_objects(stored)
        raise


def _remove_objects(keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # the orphan sweep (cleanup_orphans) removes what this cannot
            logger.exception("could not remove object after a failed upload", extra={"key": key})


def _after_commit(documents: list[Document]) -> None:
    from apps.documents.tasks import extract_text, make_document_thumbnail, scan_document

    for document in documents:
        if document.scan_status == ScanStatus.NOT_SCANNED:
            # Scanner disabled: the document is available at once; it needs its preview and its text read.
            enqueue_on_commit(make_document_thumbnail, str(document.pk))
            enqueue_on_commit(extract_text, str(document.pk))
        else:
            enqueue_on_commit(scan_document, str(document.pk))


def _audit_upload(document: Document, actor: User, *, action: Action = Action.DOCUMENT_UPLOADED) -> None:
    audit_record(
        action=action,
        actor=actor,
        organisation_id=document.organisation_id,
        patient_id=document.patient_id,
        object_type="document",
        object_id=document.pk,
        details={
            "title": document.title,
            "category": document.category,
            "filename": document.original_filename,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
            "version": document.version_number,
            "lineage_id": str(document.lineage_id),
        },
    )


def _store(
    pairs: list[tuple[UploadRequest, Document]],
    actor: User,
    *,
    replaced: Document | None = None,
    with_rows: Callable[[list[Document]], None] | None = None,
) -> None:
    """Put the objects, then write rows and events in one transaction; undo the objects on failure.

    ``with_rows`` is called inside that transaction once the rows exist, for a caller's own
    rows that must stand or fall with the documents (an MHD SubmissionSet).
    """
    _put_objects(pairs)
    try:
        documents = [document for _, document in pairs]
        with transaction.atomic():
            if replaced is not None:
                Document.objects.filter(pk=replaced.pk).update(is_current=False, updated_at=timezone.now())
                if replaced.scan_status in AVAILABLE_SCAN_STATUSES:
                    # The old version is now superseded: tell the FHIR server in this transaction.
                    document_announce(document=replaced)
            by_patient: dict[Any, list[Document]] = {}
            for document in documents:
                by_patient.setdefault(document.patient_id, []).append(document)
            # Patients locked in one order (their ids), so two uploads to the same patients cannot deadlock.
            extended = [
                patient_id
                for patient_id in sorted(by_patient, key=str)
                if retention_for_new_documents(patient_id=patient_id, documents=by_patient[patient_id])
            ]
            Document.objects.bulk_create(documents)
            if with_rows is not None:
                with_rows(documents)
            for patient_id in extended:
                # A later clinical date extends the retention of the patient's whole record.
                patient_retention_recompute(patient_id=patient_id)
            for document in documents:
                if document.scan_status == ScanStatus.NOT_SCANNED:
                    # Scanner disabled: available at once, so announce now (clean ones are announced by the scan).
                    document_announce(document=document)
            # Last, so the organisation's audit chain is locked only from here to the commit.
            for document in documents:
                _audit_upload(
                    document, actor, action=Action.DOCUMENT_VERSION_ADDED if replaced else Action.DOCUMENT_UPLOADED
                )
            _after_commit(documents)
    except BaseException:
        _remove_objects([document.storage_key for _, document in pairs])
        raise


def _new_first_version(item: UploadRequest, *, actor: User, patient: Patient) -> Document:
    """A new document that starts its own lineage (unsaved)."""
    return _new_document(
        item,
        actor=actor,
        patient=patient,
        document_id=item.document_id,
        lineage_id=item.document_id,
        version_number=1,
        supersedes=None,
    )


def document_upload(*, actor: User, patient: Patient, item: UploadRequest) -> Document:
    """Validate and store one file for `patient` (already authorised for `actor` by a selector)."""
    try:
        _prepare(item, actor, patient_id=patient.pk)
        document = _new_first_version(item, actor=actor, patient=patient)
        _store([(item, document)], actor)
        return document
    finally:
        item.discard()


def document_upload_bulk(
    *,
    actor: User,
    patient: Patient,
    items: list[UploadRequest],
    with_rows: Callable[[list[Document]], None] | None = None,
) -> list[BulkOutcome]:
    """All-or-nothing: if any file is refused, none is stored; every file gets an outcome.

    Refusals of individual files are reported in the outcomes (nothing raised);
    a failure of the store or database raises after undoing everything. ``with_rows``
    runs in the documents' transaction (see ``_store``).
    """
    return document_upload_each(actor=actor, uploads=[(patient, item) for item in items], with_rows=with_rows)


def document_upload_each(
    *,
    actor: User,
    uploads: list[tuple[Patient, UploadRequest]],
    with_rows: Callable[[list[Document]], None] | None = None,
) -> list[BulkOutcome]:
    """``document_upload_bulk`` with each file to its own patient (each already authorised for `actor`):
    the parts of one scan filed to different patients are stored all together, or none of them."""
    items = [item for _, item in uploads]
    outcomes = [BulkOutcome(filename=clean_filename(item.filename)) for item in items]
    try:
        for (patient, item), outcome in zip(uploads, outcomes, strict=True):
            try:
                _prepare(item, actor, patient_id=patient.pk)
            except QuillError as exc:
                outcome.error = exc
        if any(outcome.error for outcome in outcomes):
            return outcomes
        pairs = []
        for (patient, item), outcome in zip(uploads, outcomes, strict=True):
            outcome.document = _new_first_version(item, actor=actor, patient=patient)
            pairs.append((item, outcome.document))
        try:
            _store(pairs, actor, with_rows=with_rows)
        except BaseException:
            for outcome in outcomes:
                outcome.document = None
            raise
        return outcomes
    finally:
        for item in items:
            item.discard()


def document_new_version(*, actor: User, current: Document, item: UploadRequest) -> Document:
    """Store `item` as the next version of `current`; the old bytes are kept and stay downloadable."""
    try:
        if not item.sealed:
            ensure_not_sealed(actor=actor, document=current, attempted="document.new_version")
        item.category = item.category or current.category
        item.title = item.title or current.title
        item.encounter_id = item.encounter_id or current.encounter_id
        if item.document_date is None and current.document_date_given:
            item.document_date = current.document_date
        _prepare(item, actor, patient_id=current.patient_id, replacing=current)
        with transaction.atomic():
            locked = Document.objects.select_for_update().get(pk=current.pk)
            if not locked.is_current or locked.deleted_at is not None:
                raise UploadRejected(
                    "This document has already been replaced or deleted; open its newest version and try again."
                )
        document = _new_document(
            item,
            actor=actor,
            patient=current.patient,
            document_id=item.document_id,
            lineage_id=current.lineage_id,
            version_number=current.version_number + 1,
            supersedes=current,
        )
        _store([(item, document)], actor, replaced=current)
        return document
    finally:
        item.discard()
