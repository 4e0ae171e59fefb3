"""Storage integrity checks for `verify_storage` and `cleanup_orphans`: one small function per check.

Like paperless-ngx's sanity checker, `check_document` calls `_check_original` and
`_check_thumbnail`; each returns findings and never changes anything. Only a
definite answer from the store is a finding: a complete read whose SHA-256 differs
(`mismatch`) or the store saying the object does not exist (`missing`). An outage
raises `StorageUnavailable` and is never taken for corruption.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.accounts.models import User
from apps.documents.models import Document
from apps.files import storage
from apps.files.errors import StorageUnavailable
from apps.inbox.models import InboxItem, MailMessage
from apps.patients.models import Patient

MISSING = "missing"
MISMATCH = "mismatch"
THUMBNAIL_MISSING = "thumbnail_missing"
RENDITION_MISSING = "rendition_missing"
RENDITION_MISMATCH = "rendition_mismatch"
RENDITION_PROBLEMS = (RENDITION_MISSING, RENDITION_MISMATCH)
_LOOKUP_BATCH = 500


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    document_id: str = ""
    detail: str = ""

    @property
    def is_corruption(self) -> bool:
        return self.kind in (MISSING, MISMATCH)


@dataclass(frozen=True)
class Orphan:
    key: str
    size: int
    modified: float

    def age(self, now: float) -> timedelta:
        return timedelta(seconds=max(0.0, now - self.modified))


def ensure_reachable() -> None:
    """Raise StorageUnavailable unless the store answers (an unmounted folder counts as unreachable).

    Without this, a missing folder or bucket would make every object look `missing`.
    """
    if storage.is_s3():
        client, bucket = storage._s3_client_and_bucket()
        try:
            client.head_bucket(Bucket=bucket)
        except storage._s3_errors() as exc:
            raise StorageUnavailable() from exc
        return
    if not os.path.isdir(settings.QUILL_FILES_DIR):
        raise StorageUnavailable()


def documents_to_verify(*, organisation_id: str | None = None, sample: int | None = None) -> QuerySet[Document]:
    """Documents whose bytes should exist: everything not purged (soft-deleted ones keep their bytes)."""
    documents = Document.objects.filter(purged_at__isnull=True)
    if organisation_id:
        documents = documents.filter(organisation_id=organisation_id)
    if sample:
        return documents.order_by("?")[:sample]
    return documents.order_by("pk")


def check_document(document: Document) -> list[Finding]:
    findings = _check_original(document)
    if not findings:
        findings += _check_thumbnail(document)
        findings += _check_searchable_pdf(document)
    return findings


def _check_original(document: Document) -> list[Finding]:
    try:
        digest, size = _hash_object(document.storage_key)
    except FileNotFoundError:
        return [Finding(MISSING, document.storage_key, str(document.pk), "the stored object does not exist")]
    if digest != document.sha256:
        detail = f"sha256 {digest} ({size} bytes), recorded {document.sha256} ({document.size} bytes)"
        return [Finding(MISMATCH, document.storage_key, str(document.pk), detail)]
    return []


def _check_thumbnail(document: Document) -> list[Finding]:
    if document.thumbnail_key and not storage.exists(document.thumbnail_key):
        return [Finding(THUMBNAIL_MISSING, document.thumbnail_key, str(document.pk), "thumbnail is missing")]
    return []


def _check_searchable_pdf(document: Document) -> list[Finding]:
    """The PDF/A that OCR made beside the original: present, with the bytes recorded when it was stored.

    A problem here never marks the document corrupt (the original is what the record is);
    `reindex_text` makes the rendition again.
    """
    key = document.text_rendition_key
    if not key:
        return []
    try:
        digest, size = _hash_object(key)
    except FileNotFoundError:
        return [Finding(RENDITION_MISSING, key, str(document.pk), "the searchable PDF/A does not exist")]
    if digest != document.text_rendition_sha256:
        detail = f"searchable PDF/A sha256 {digest} ({size} bytes), recorded {document.text_rendition_sha256}"
        return [Finding(RENDITION_MISMATCH, key, str(document.pk), detail)]
    return []


def _hash_object(key: str) -> tuple[str, int]:
    """Stream the whole object through SHA-256. A failure part-way is an outage, not a mismatch."""
    digest = hashlib.sha256()
    size = 0
    chunks = storage.open_range(key)
    try:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
    except (FileNotFoundError, StorageUnavailable):
        raise
    except Exception as exc:  # a connection dropped mid-read: we know nothing about the bytes
        raise StorageUnavailable() from exc
    return digest.hexdigest(), size


# --- Orphans ---------------------------------------------------------------------------------


def known_keys(keys: list[str]) -> set[str]:
    """Which of `keys` some row points at: a document's object, thumbnail, searchable PDF/A or rendered
    pages (kept in a folder beside it until it is purged), a patient's or user's photo, an inbox item
    (its object, thumbnail and rendered pages) or its email."""
    found = _known_renditions(keys)
    for model, fields in (
        (Document, ("storage_key", "thumbnail_key", "text_rendition_key")),
        (Patient, ("photo_key", "avatar_key")),
        (User, ("photo_key", "avatar_key")),
        (InboxItem, ("storage_key", "thumbnail_key")),
        (MailMessage, ("storage_key",)),
    ):
        match = Q()
        for name in fields:
            match |= Q(**{f"{name}__in": keys})
        for row in model.objects.filter(match).values_list(*fields):
            found.update(value for value in row if value)
    return found


def _known_renditions(keys: list[str]) -> set[str]:
    owners = {key: stem for key in keys if (stem := storage.renditions_owner_stem(key))}
    owner_ids = set()
    for stem in owners.values():
        with contextlib.suppress(ValueError):
            owner_ids.add(uuid.UUID(stem.rpartition("/")[2]))
    stems = {
        key.rpartition(".")[0] or key
        for key in Document.objects.filter(pk__in=owner_ids, purged_at__isnull=True).values_list(
            "storage_key", flat=True
        )
    }
    # An inbox item's pages rendered for the viewer, until it is purged (its storage_key emptied).
    stems |= {
        key.rpartition(".")[0] or key
        for key in InboxItem.objects.filter(pk__in=owner_ids)
        .exclude(storage_key="")
        .values_list("storage_key", flat=True)
    }
    return {key for key, stem in owners.items() if stem in stems}


def find_orphans(*, prefix: str = "") -> Iterator[Orphan]:
    """Objects no row points at, looked up in batches (memory stays flat however big the store)."""
    batch: list[Orphan] = []
    for key, size, modified in storage.list_keys(prefix):
        batch.append(Orphan(key, size, modified))
        if len(batch) >= _LOOKUP_BATCH:
            yield from _unknown(batch)
            batch = []
    if batch:
        yield from _unknown(batch)


def _unknown(batch: list[Orphan]) -> list[Orphan]:
    known = known_keys([orphan.key for orphan in batch])
    return [orphan for orphan in batch if orphan.key not in known]


def now_epoch() -> float:
    return time.time()
