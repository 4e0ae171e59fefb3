"""Receiving one incoming file: the upload pipeline's checks, then an inbox item, exactly once.

The bytes take the same path as an upload's (``apps.files``: spooling with the size
limit and hashes, type sniffing, deep checks and active-content refusal, storage with
the sha256 in the object's metadata, then a virus scan after commit). What differs is
the outcome of a refusal: the item is kept, with its reason and provenance and without
bytes, so an administrator can see what arrived and why it was not taken.

Idempotency: ``source_identity`` is unique per organisation. Receiving the same
identity again returns the item already recorded, whatever state it is in; a race
between two receivers is settled by the unique constraint (the loser removes its
object and returns the winner's item).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.services import audit_record
from apps.documents.models import Document, ScanStatus
from apps.files import storage
from apps.files.errors import UploadRejected
from apps.files.filenames import clean_filename
from apps.files.spooling import SpooledFile, spool
from apps.files.validation import validate
from apps.inbox.models import InboxItem, IntakeSource, ItemState, MailMessage, SourceKind
from quill.queue import enqueue_on_commit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    item: InboxItem
    created: bool


def intake_actor_name(source: IntakeSource) -> str:
    """The name audit events of unattended intake carry (no person acted)."""
    return f"system:intake:{source.kind}"


def inbox_item_key(*, organisation_id: uuid.UUID, item_id: uuid.UUID, extension: str) -> str:
    """Where an inbox item's bytes live: no names or paths anyone typed, beside the organisation's documents."""
    on = timezone.localdate()
    suffix = f".{extension.lstrip('.').lower()}" if extension else ""
    return f"{organisation_id}/inbox/{on:%Y}/{on:%m}/{item_id}{suffix}"


def _existing(source: IntakeSource, identity: str) -> InboxItem | None:
    return InboxItem.objects.filter(organisation_id=source.organisation_id, source_identity=identity).first()


def _first_copy(organisation_id: uuid.UUID, sha256: str) -> tuple[InboxItem | None, Document | None]:
    """An earlier stored copy of these exact bytes in the organisation: an inbox item, else a document."""
    earlier = (
        InboxItem.objects.filter(organisation_id=organisation_id, sha256=sha256)
        .exclude(storage_key="")
        .order_by("received_at")
        .first()
    )
    if earlier is not None:
        return earlier, None
    document = Document.objects.filter(organisation_id=organisation_id, sha256=sha256).order_by("uploaded_at").first()
    return None, document


def _audit(
    item: InboxItem,
    action: Action,
    *,
    actor: Any,
    outcome: str = Outcome.SUCCESS,
    patient_id: Any = None,
    **details: Any,
) -> None:
    audit_record(
        action=action,
        actor=actor,
        actor_username="" if actor is not None else intake_actor_name(item.source),
        organisation_id=item.organisation_id,
        patient_id=patient_id,
        object_type="inbox_item",
        object_id=item.pk,
        outcome=outcome,
        details={
            "source": item.source.name,
            "filename": item.original_filename,
            "sha256": item.sha256,
            "size": item.size,
            **details,
        },
    )


def _save(item: InboxItem, action: Action, *, actor: Any, outcome: str = Outcome.SUCCESS, **details: Any) -> bool:
    """Insert the row and its event together; False when the identity was recorded meanwhile."""
    try:
        with transaction.atomic():
            item.save(force_insert=True)
            _audit(item, action, actor=actor, outcome=outcome, **details)
            if item.state == ItemState.SCANNING:
                from apps.inbox.tasks import scan_inbox_item

                enqueue_on_commit(scan_inbox_item, str(item.pk))
            elif item.state == ItemState.READY:
                from apps.inbox.tasks import after_inbox_item_available

                enqueue_on_commit(after_inbox_item_available, str(item.pk))
    except IntegrityError:
        if _existing(item.source, item.source_identity) is None:
            raise
        return False
    return True


def _refused(base: InboxItem, exc: UploadRejected, *, actor: Any) -> InboxItem:
    base.state = ItemState.REFUSED
    base.refusal_code = exc.error_code
    base.refusal_reason = exc.message
    base.closed_at = timezone.now()
    _save(base, Action.INBOX_ITEM_REFUSED, actor=actor, outcome=Outcome.DENIED, reason=exc.error_code)
    return base


def inbox_receive(
    *,
    actor: Any = None,
    source: IntakeSource,
    filename: str,
    chunks: Iterable[bytes],
    source_identity: str,
    identity_includes_sha256: bool = False,
    provenance: dict[str, Any] | None = None,
    hints: dict[str, Any] | None = None,
    mail_message: MailMessage | None = None,
    identity_is_new: bool = False,
) -> Received:
    """Check, store and record one incoming file for `source`'s organisation, once per identity.

    ``identity_includes_sha256`` appends the bytes' SHA-256 to ``source_identity`` (the
    watched folder's identity is path, inode, mtime and content). Refusals of the bytes
    are recorded as a refused item, not raised; a storage or database outage raises with
    nothing recorded, so the source keeps the file and tries again. ``identity_is_new``
    skips the look-up of an earlier item with this identity when the caller knows there is
    none (an email's attachments in the transaction that records the message); the unique
    constraint still settles it if that is wrong.
    """
    if (
        not identity_includes_sha256
        and not identity_is_new
        and (found := _existing(source, source_identity)) is not None
    ):
        return Received(found, created=False)
    base = InboxItem(
        organisation_id=source.organisation_id,
        source=source,
        source_identity=source_identity,
        mail_message=mail_message,
        provenance=provenance or {},
        hints=hints or {},
        original_filename=clean_filename(filename) or "unnamed",
    )
    try:
        spooled = spool(chunks, max_bytes=settings.QUILL_MAX_UPLOAD_BYTES, tmp_dir=settings.FILE_UPLOAD_TEMP_DIR)
    except UploadRejected as exc:
        if identity_includes_sha256:
            base.source_identity = f"{source_identity}|too-large"
            if (found := _existing(source, base.source_identity)) is not None:
                return Received(found, created=False)
        return Received(_refused(base, exc, actor=actor), created=True)
    return _receive(base, spooled, actor=actor, identity_includes_sha256=identity_includes_sha256)


def inbox_receive_spooled(
    *,
    actor: Any = None,
    source: IntakeSource,
    filename: str,
    spooled: SpooledFile,
    source_identity: str = "",
    provenance: dict[str, Any] | None = None,
    hints: dict[str, Any] | None = None,
) -> Received:
    """``inbox_receive`` for bytes already spooled (an API upload); no identity means a new item each time."""
    identity = source_identity or f"{source.kind}:once:{uuid.uuid4()}"
    if (found := _existing(source, identity)) is not None:
        spooled.discard()
        return Received(found, created=False)
    base = InboxItem(
        organisation_id=source.organisation_id,
        source=source,
        source_identity=identity,
        provenance=provenance or {},
        hints=hints or {},
        original_filename=clean_filename(filename) or "unnamed",
    )
    return _receive(base, spooled, actor=actor, identity_includes_sha256=False)


def _receive(base: InboxItem, spooled: SpooledFile, *, actor: Any, identity_includes_sha256: bool) -> Received:
    try:
        if identity_includes_sha256:
            base.source_identity = f"{base.source_identity}|sha256:{spooled.sha256}"
            if (found := _existing(base.source, base.source_identity)) is not None:
                return Received(found, created=False)
        base.size, base.sha256, base.sha1 = spooled.size, spooled.sha256, spooled.sha1
        try:
            validated = validate(spooled, filename=base.original_filename, max_pixels=settings.QUILL_MAX_IMAGE_PIXELS)
        except UploadRejected as exc:
            return Received(_refused(base, exc, actor=actor), created=True)
        base.content_type = validated.content_type
        return _store_or_flag(base, spooled, validated.extension, actor=actor)
    finally:
        spooled.discard()


def inbox_api_source(*, organisation_id: uuid.UUID) -> IntakeSource:
    """The organisation's API source, made on first use (its defaults can then be set in the admin)."""
    sources = IntakeSource.objects.filter(organisation_id=organisation_id, kind=SourceKind.API).order_by("created_at")
    source = sources.first()
    if source is None:
        with contextlib.suppress(IntegrityError), transaction.atomic():
            IntakeSource.objects.create(organisation_id=organisation_id, kind=SourceKind.API, name="API")
        source = sources.get() if sources.count() == 1 else sources.first()
    assert source is not None, "made above"
    return source


def _store_or_flag(base: InboxItem, spooled: SpooledFile, extension: str, *, actor: Any) -> Received:
    earlier_item, earlier_document = _first_copy(base.organisation_id, base.sha256)
    if earlier_item is not None or earlier_document is not None:
        base.state = ItemState.DUPLICATE
        base.duplicate_of, base.duplicate_of_document = earlier_item, earlier_document
        base.closed_at = timezone.now()
        saved = _save(
            base,
            Action.INBOX_ITEM_DUPLICATE,
            actor=actor,
            duplicate_of=str(earlier_item.pk if earlier_item else earlier_document.pk),  # type: ignore[union-attr]
        )
        return Received(base if saved else _existing(base.source, base.source_identity), created=saved)  # type: ignore[arg-type]
    scanning = settings.QUILL_SCANNER != "none"
    base.state = ItemState.SCANNING if scanning else ItemState.READY
    base.scan_status = ScanStatus.PENDING if scanning else ScanStatus.NOT_SCANNED
    base.storage_key = inbox_item_key(organisation_id=base.organisation_id, item_id=base.pk, extension=extension)
    storage.put_file(key=base.storage_key, path=spooled.path, sha256=base.sha256, content_type=base.content_type)
    try:
        saved = _save(base, Action.INBOX_ITEM_RECEIVED, actor=actor)
    except BaseException:
        _remove(base.storage_key)
        raise
    if not saved:
        _remove(base.storage_key)
        return Received(_existing(base.source, base.source_identity), created=False)  # type: ignore[arg-type]
    return Received(base, created=True)


def _remove(key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # cleanup_orphans removes what this cannot
        logger.exception("could not remove an inbox object after a failed ingest", extra={"key": key})
