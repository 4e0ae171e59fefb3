"""Writing an archive: rows, audit events and stored objects, then the manifest (see the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import Organisation, User
from apps.audit.models import AuditEvent
from apps.documents.models import Document, Integrity
from apps.files import storage
from apps.patients.models import Patient

from .format import (
    EVENTS,
    FORMAT,
    MANIFEST,
    OBJECT_INDEX,
    TABLES,
    VERSION,
    Scope,
    chain_heads_in_scope,
    check_key,
    encode_row,
    filed_items_in_scope,
    mail_messages_in_scope,
    users_in_scope,
)


class _Spool:
    """A temporary file written while hashing; becomes one tar member."""

    def __init__(self, directory: str) -> None:
        handle, self.path = tempfile.mkstemp(dir=directory)
        self.file = os.fdopen(handle, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.file.write(data)

    def write_line(self, row: dict[str, Any]) -> None:
        self.write(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n")
        self.lines += 1

    def close(self) -> dict[str, Any]:
        self.file.close()
        return {"sha256": self.digest.hexdigest(), "bytes": self.size, "rows": self.lines}


@dataclass
class ExportResult:
    path: str
    counts: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    object_bytes: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.mismatched)


def _add_member(tar: tarfile.TarFile, name: str, path: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = os.path.getsize(path)
    info.mode = 0o600
    info.mtime = int(timezone.now().timestamp())
    with open(path, "rb") as source:
        tar.addfile(info, source)


def export_archive(
    path: str, *, organisation_id: str | None = None, progress: Callable[[Iterator], Iterator] = lambda it: it
) -> ExportResult:
    """Write the archive to `path` (a .tar; written as `path`.partial and renamed when complete)."""
    scope = Scope([uuid.UUID(organisation_id)] if organisation_id else None)
    result = ExportResult(path=path)
    partial = f"{path}.partial"
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with tempfile.TemporaryDirectory(prefix="quill-export-") as work, transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:  # one consistent snapshot of every table
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                files = _export_rows(tar, work, scope, result)
                files[EVENTS] = _export_events(tar, work, scope, result)
                files[OBJECT_INDEX] = _export_objects(tar, work, scope, result, progress)
                manifest = _manifest(scope, files, result)
                manifest_path = os.path.join(work, MANIFEST)
                with open(manifest_path, "w", encoding="utf-8") as out:
                    json.dump(manifest, out, indent=2, sort_keys=True)
                _add_member(tar, MANIFEST, manifest_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
    os.replace(partial, path)
    return result


def _export_rows(tar: tarfile.TarFile, work: str, scope: Scope, result: ExportResult) -> dict[str, dict]:
    files = {}
    for table in TABLES:
        spool = _Spool(work)
        for obj in table.rows(scope).iterator(chunk_size=2000):
            spool.write_line(encode_row(obj))
        files[table.file] = spool.close()
        result.counts[table.file.removeprefix("rows/").removesuffix(".jsonl")] = spool.lines
        _add_member(tar, table.file, spool.path)
        os.unlink(spool.path)
    return files


def _export_events(tar: tarfile.TarFile, work: str, scope: Scope, result: ExportResult) -> dict:
    events = AuditEvent.objects.order_by("chain", "sequence")
    if scope.chains is not None:
        events = events.filter(chain__in=scope.chains)
    spool = _Spool(work)
    for event in events.iterator(chunk_size=2000):
        spool.write_line(encode_row(event))
    info = spool.close()
    result.counts["audit_events"] = spool.lines
    _add_member(tar, EVENTS, spool.path)
    os.unlink(spool.path)
    return info


def _objects_in_scope(scope: Scope) -> Iterator[dict[str, Any]]:
    """Every stored object rows point at: (key, expected sha256 or '', document id, corrupt?)."""
    documents = Document.objects.filter(scope.orgs(), purged_at__isnull=True).order_by("pk")
    for document in documents.iterator(chunk_size=2000):
        corrupt = document.integrity == Integrity.CORRUPT
        yield {"key": document.storage_key, "expect": "" if corrupt else document.sha256, "document": str(document.pk)}
        if document.thumbnail_key:
            yield {"key": document.thumbnail_key, "expect": "", "document": str(document.pk), "thumbnail": True}
    for item in filed_items_in_scope(scope).iterator(chunk_size=2000):  # the bytes as received, before filing
        if item.storage_key:
            yield {"key": item.storage_key, "expect": item.sha256, "document": None, "inbox_item": str(item.pk)}
        if item.thumbnail_key:
            yield {"key": item.thumbnail_key, "expect": "", "document": None, "thumbnail": True}
    for message in mail_messages_in_scope(scope).iterator(chunk_size=2000):  # the .eml kept as provenance
        yield {"key": message.storage_key, "expect": message.sha256, "document": None, "mail_message": str(message.pk)}
    for model in (Patient, User):
        rows = model.objects.order_by("pk")
        rows = users_in_scope(scope) if model is User else rows.filter(scope.orgs())
        for photo_key, avatar_key in rows.values_list("photo_key", "avatar_key").iterator():
            for key in (photo_key, avatar_key):
                if key:
                    yield {"key": key, "expect": "", "document": None}


def _export_objects(tar: tarfile.TarFile, work: str, scope: Scope, result: ExportResult, progress: Callable) -> dict:
    index = _Spool(work)
    for entry in progress(_objects_in_scope(scope)):
        key, expect = entry.pop("key"), entry.pop("expect")
        check_key(key)
        spool = _Spool(work)
        try:
            for chunk in storage.open_range(key):
                spool.write(chunk)
        except FileNotFoundError:
            spool.close()
            os.unlink(spool.path)
            if not entry.get("thumbnail"):
                result.missing.append(key)
                index.write_line({"key": key, "missing": True, **entry})
            continue
        info = spool.close()
        mismatch = bool(expect) and info["sha256"] != expect
        if mismatch:
            result.mismatched.append(key)
        _add_member(tar, f"objects/{key}", spool.path)
        os.unlink(spool.path)
        index.write_line({"key": key, "sha256": info["sha256"], "size": info["bytes"], "mismatch": mismatch, **entry})
        result.objects += 1
        result.object_bytes += info["bytes"]
    info = index.close()
    _add_member(tar, OBJECT_INDEX, index.path)
    return info


def _manifest(scope: Scope, files: dict[str, dict], result: ExportResult) -> dict[str, Any]:
    heads = chain_heads_in_scope(scope)
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "scope": {"organisation": str(scope.organisation_ids[0]) if scope.organisation_ids else None},
        "organisations": [
            {"id": str(pk), "name": name}
            for pk, name in Organisation.objects.filter(scope.orgs("pk")).order_by("name").values_list("pk", "name")
        ],
        "counts": {**result.counts, "objects": result.objects, "object_bytes": result.object_bytes},
        "files": files,
        "audit_chain_heads": [{"chain": h.chain, "sequence": h.sequence, "hash": h.hash} for h in heads],
        "problems_at_export": {"missing_objects": result.missing, "mismatched_objects": result.mismatched},
    }
