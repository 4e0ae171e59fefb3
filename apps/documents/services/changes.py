"""Changing a document's metadata, soft delete and restore (all audited)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import changes
from apps.documents.audit import audit_document
from apps.documents.errors import InvalidCategory
from apps.documents.models import Category, Document
from apps.documents.permissions import ensure_manager, ensure_may_file_category, ensure_not_sealed
from apps.documents.services.retention import patient_retention_recompute
from apps.documents.services.scanning import document_announce
from quill.errors import Conflict, ValidationFailed

EDITABLE_FIELDS = ("title", "category", "document_date", "document_date_given", "encounter_id")


def _snapshot(document: Document) -> dict[str, Any]:
    return {name: getattr(document, name) for name in EDITABLE_FIELDS}


def document_update(
    *,
    actor: User,
    document: Document,
    title: str | None = None,
    category: str | None = None,
    document_date: date | None = None,
    encounter_id: str | None = None,
) -> Document:
    """Change metadata; the audit event carries each changed field before and after."""
    if category is not None and category not in Category.values:
        raise InvalidCategory()
    if title is not None and not title.strip():
        raise ValidationFailed("A document needs a title.")
    ensure_not_sealed(actor=actor, document=document, attempted="document.update")
    # Before the transaction, so the refusal's audit event commits.
    ensure_may_file_category(user=actor, category=document.category, attempted="document.update", document=document)
    if category is not None:
        ensure_may_file_category(user=actor, category=category, attempted="document.update", document=document)
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        if locked.deleted_at is not None:
            raise Conflict("This document has been deleted; restore it before changing it.")
        if locked.category != document.category:
            # Changed meanwhile: this refusal's event rolls back with the transaction; the denial
            # middleware (apps/audit/middleware.py) records the refusal instead.
            ensure_may_file_category(user=actor, category=locked.category, attempted="document.update", document=locked)
        before = _snapshot(locked)
        if title is not None:
            locked.title = title.strip()[:255]
        if category is not None:
            locked.category = category
        if document_date is not None:
            locked.document_date = document_date
            locked.document_date_given = True
        if encounter_id is not None:
            locked.encounter_id = encounter_id.strip()[:64]
        diff = changes(before, _snapshot(locked))
        if diff:
            locked.save(update_fields=[*diff.keys(), "updated_at"])
            audit_document(
                Action.DOCUMENT_UPDATED,
                document=locked,
                actor=actor,
                details={"changes": diff},
            )
            if locked.is_available:
                document_announce(document=locked)
            if {"document_date", "category"} & diff.keys():
                patient_retention_recompute(patient_id=locked.patient_id)
                locked.refresh_from_db(fields=["retain_until"])
    return locked


def document_soft_delete(*, actor: User, document: Document, reason: str) -> Document:
    """Hide a document from lists and downloads; the bytes are kept and it can be restored."""
    ensure_manager(user=actor, doing="delete documents", attempted="document.delete", document=document)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationFailed("Say why this document is being deleted (at least a few words).", field="reason")
    ensure_not_sealed(actor=actor, document=document, attempted="document.delete")
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        if locked.deleted_at is not None:
            raise Conflict("This document is already deleted.")
        locked.deleted_at = timezone.now()
        locked.deleted_by = actor
        locked.deleted_reason = reason[:2000]
        locked.save(update_fields=["deleted_at", "deleted_by", "deleted_reason", "updated_at"])
        audit_document(
            Action.DOCUMENT_DELETED,
            document=locked,
            actor=actor,
            details={"reason": locked.deleted_reason},
        )
        document_announce(document=locked)
    return locked


def document_restore(*, actor: User, document: Document) -> Document:
    ensure_manager(user=actor, doing="restore deleted documents", attempted="document.restore", document=document)
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        if locked.deleted_at is None:
            raise Conflict("This document is not deleted.")
        if locked.purged_at is not None:
            raise Conflict("This document's file was permanently removed under the retention policy.")
        previous_reason = locked.deleted_reason
        locked.deleted_at = None
        locked.deleted_by = None
        locked.deleted_reason = ""
        locked.save(update_fields=["deleted_at", "deleted_by", "deleted_reason", "updated_at"])
        audit_document(
            Action.DOCUMENT_RESTORED,
            document=locked,
            actor=actor,
            details={"deleted_reason": previous_reason},
        )
        document_announce(document=locked)
    return locked


def document_set_legal_hold(*, actor: User, document: Document, hold: bool, reason: str) -> Document:
    """Place or lift a legal hold on every version of a document; a held document is never purged."""
    ensure_manager(user=actor, doing="place or lift legal holds", attempted="document.legal_hold", document=document)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationFailed("Say why the legal hold is being placed or lifted (e.g. the case reference).")
    with transaction.atomic():
        versions = Document.objects.select_for_update().filter(lineage_id=document.lineage_id)
        changed = [version.pk for version in versions if version.legal_hold != hold]
        if not changed:
            raise Conflict("This document is already on legal hold." if hold else "This document is not on legal hold.")
        Document.objects.filter(pk__in=changed).update(legal_hold=hold, updated_at=timezone.now())
        audit_document(
            Action.DOCUMENT_LEGAL_HOLD_PLACED if hold else Action.DOCUMENT_LEGAL_HOLD_LIFTED,
            document=document,
            actor=actor,
            details={"reason": reason[:2000], "versions": [str(pk) for pk in changed]},
        )
    document.refresh_from_db()
    return document
