"""Restoring an archive into an empty installation, or only checking it (see the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from django.core import serializers
from django.core.management.color import no_style
from django.db import connection, models, transaction

from apps.accounts.models import Organisation, User
from apps.audit.hashing import HASHED_FIELDS, event_hash
from apps.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from apps.documents.models import Document, Integrity
from apps.documents.services.retention import patients_last_clinical_date_refresh
from apps.files import storage
from apps.inbox.models import InboxItem, IntakeSource, MailMessage
from apps.patients.models import Patient

from .format import (
    CHUNK,
    EVENTS,
    FORMAT,
    IMPORTED_MODELS,
    MANIFEST,
    OBJECT_INDEX,
    TABLES,
    VERSION,
    ArchiveError,
    check_key,
    decode_row,
)

_BATCH = 500


@dataclass
class ImportResult:
    counts: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    object_bytes: int = 0
    chains: int = 0
    events: int = 0
    missing: list[str] = field(default_factory=list)
    written_keys: list[str] = field(default_factory=list)


class _HashingReader:
    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def lines(self) -> Iterator[bytes]:
        buffer = b""
        while chunk := self.read(CHUNK):
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            yield from complete
        if buffer:
            yield buffer


class _Archive:
    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise ArchiveError(f"{path} is not a file")
        try:
            self.tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by close())
        except tarfile.TarError as exc:
            raise ArchiveError(f"{path} is not a Quill archive (not a tar file: {exc})") from exc
        self.manifest = self._manifest()

    def _manifest(self) -> dict[str, Any]:
        try:
            manifest = json.load(self.open(MANIFEST))
        except (KeyError, ValueError) as exc:
            raise ArchiveError(f"the archive has no readable {MANIFEST} ({exc})") from exc
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ArchiveError(f"not a {FORMAT} version {VERSION} archive")
        return manifest

    def open(self, name: str) -> IO[bytes]:
        try:
            member = self.tar.getmember(name)
        except KeyError:
            raise ArchiveError(f"the archive lacks {name}") from None
        if not member.isfile():
            raise ArchiveError(f"{name} in the archive is not a file")
        source = self.tar.extractfile(member)
        assert source is not None, "extractfile() returns None only for a member that is not a file"
        return source

    def rows(self, name: str) -> Iterator[dict[str, Any]]:
        """The JSON lines of `name`, checked against the manifest's sha256 and count once read."""
        expected = self.manifest["files"].get(name)
        if expected is None:
            raise ArchiveError(f"the manifest does not list {name}")
        reader = _HashingReader(self.open(name))
        count = 0
        for line in reader.lines():
            if line.strip():
                count += 1
                yield json.loads(line)
        if reader.digest.hexdigest() != expected["sha256"] or count != expected["rows"]:
            raise ArchiveError(f"{name} does not match the manifest (altered or damaged archive)")

    def close(self) -> None:
        self.tar.close()


def installation_is_empty() -> list[str]:
    """What is already here (empty list: nothing)."""
    found = [
        m._meta.label for m in (Organisation, User, Patient, Document, AuditEvent, ChainHead) if m.objects.exists()
    ]
    for key, _, _ in storage.list_keys():
        if not key.startswith(storage.PROBE_PREFIX):
            found.append(f"stored objects (e.g. {key})")
            break
    return found


def import_archive(path: str, *, verify_only: bool = False, progress: Callable = lambda it: it) -> ImportResult:
    """Check (and unless verify_only, restore) an archive. Raises ArchiveError on any mismatch."""
    archive = _Archive(path)
    result = ImportResult()
    try:
        if not verify_only:
            present = installation_is_empty()
            if present:
                raise ArchiveError(
                    "this installation is not empty (" + ", ".join(present) + "); import only restores into "
                    "an empty one"
                )
        try:
            with transaction.atomic():
                documents = _import_rows(archive, result, write=not verify_only)
                _import_events(archive, result, write=not verify_only)
                _import_objects(archive, documents, result, write=not verify_only, progress=progress)
                if not verify_only:
                    _reset_sequences()
                    # An archive written before the patient row kept it has none: derive it from the documents.
                    patients_last_clinical_date_refresh()
                    _verify_restored_chains(archive)
        except BaseException:
            for key in result.written_keys:
                with contextlib.suppress(Exception):
                    storage.delete(key)
            raise
    finally:
        archive.close()
    return result


def _import_rows(archive: _Archive, result: ImportResult, *, write: bool) -> dict[str, dict[str, Any]]:
    """Insert every table; returns {document, inbox item or e-mail id: what its object must be} for the check.

    Intake sources are the one change made to a row: they come back switched off, so a restored copy never
    takes files or e-mails meant for the installation it was exported from. An administrator checks each
    source's folder or mailbox and switches it on.
    """
    documents: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        batch: list[models.Model] = []
        count = 0
        if table.added_later and table.file not in archive.manifest["files"]:
            result.counts[table.file.removeprefix("rows/").removesuffix(".jsonl")] = 0
            continue
        for row in archive.rows(table.file):
            obj = decode_row(table.model, row)
            count += 1
            if isinstance(obj, Document) and obj.purged_at is None:  # the Document table's rows
                documents[str(obj.pk)] = {
                    "sha256": obj.sha256,
                    "key": obj.storage_key,
                    "corrupt": obj.integrity == Integrity.CORRUPT,
                    "content_type": obj.content_type,
                }
            elif isinstance(obj, InboxItem | MailMessage) and obj.storage_key:
                documents[str(obj.pk)] = {
                    "sha256": obj.sha256,
                    "key": obj.storage_key,
                    "corrupt": False,
                    "content_type": obj.content_type if isinstance(obj, InboxItem) else "message/rfc822",
                }
            elif isinstance(obj, IntakeSource):
                obj.enabled = False
            if write:
                batch.append(obj)
                if len(batch) >= _BATCH:
                    _insert(table.model, batch)
                    batch = []
        if write:
            _insert(table.model, batch)
        result.counts[table.file.removeprefix("rows/").removesuffix(".jsonl")] = count
    return documents


def _import_events(archive: _Archive, result: ImportResult, *, write: bool) -> None:
    """Insert the audit events exactly, recomputing every hash and link as they stream past."""
    heads = {head["chain"]: head for head in archive.manifest["audit_chain_heads"]}
    last: dict[str, tuple[int, str]] = {}
    batch: list[AuditEvent] = []
    for row in archive.rows(EVENTS):
        event = decode_row(AuditEvent, row)
        sequence, prev_hash = last.get(event.chain, (0, GENESIS_HASH))
        if event.sequence != sequence + 1 or event.prev_hash != prev_hash:
            raise ArchiveError(f"audit chain {event.chain} breaks at event #{event.sequence} (not linked)")
        if event_hash(event.prev_hash, {name: getattr(event, name) for name in HASHED_FIELDS}) != event.hash:
            raise ArchiveError(f"audit chain {event.chain}: event #{event.sequence} does not match its hash")
        last[event.chain] = (event.sequence, event.hash)
        result.events += 1
        if write:
            batch.append(event)
            if len(batch) >= _BATCH:
                _insert(AuditEvent, batch)
                batch = []
    if write:
        _insert(AuditEvent, batch)
    for chain, head in heads.items():
        if last.get(chain, (0, GENESIS_HASH)) != (head["sequence"], head["hash"]):
            raise ArchiveError(f"audit chain {chain} does not end at the head the manifest records")
    extra = set(last) - set(heads)
    if extra:
        raise ArchiveError(f"audit events for chains with no recorded head: {', '.join(sorted(extra))}")
    result.chains = len(heads)


def _import_objects(
    archive: _Archive, documents: dict[str, dict[str, Any]], result: ImportResult, *, write: bool, progress: Callable
) -> None:
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="quill-import-") as work:
        for entry in progress(archive.rows(OBJECT_INDEX)):
            key = entry["key"]
            check_key(key)
            owner = entry.get("document") or entry.get("inbox_item") or entry.get("mail_message") or ""
            document = documents.get(owner)
            if entry.get("missing"):
                result.missing.append(key)
                seen.add(owner)
                continue
            if document is not None and not entry.get("thumbnail"):
                seen.add(owner)
                if document["key"] != key:
                    raise ArchiveError(f"object {key} is not {owner}'s object")
                if not (document["corrupt"] or entry.get("mismatch")) and entry["sha256"] != document["sha256"]:
                    raise ArchiveError(f"object {key} does not have {owner}'s sha256")
            local = os.path.join(work, "object")
            reader = _HashingReader(archive.open(f"objects/{key}"))
            with open(local, "wb") as sink:
                while chunk := reader.read(CHUNK):
                    sink.write(chunk)
            if reader.digest.hexdigest() != entry["sha256"] or reader.size != entry["size"]:
                raise ArchiveError(f"object {key} in the archive is damaged: its sha256 does not match")
            if write:
                content_type = document["content_type"] if document and not entry.get("thumbnail") else ""
                fallback = "image/webp" if entry.get("thumbnail") else "application/octet-stream"
                storage.put_file(
                    key=key,
                    path=local,
                    sha256=entry["sha256"],
                    content_type=content_type or fallback,
                )
                result.written_keys.append(key)
            os.unlink(local)
            result.objects += 1
            result.object_bytes += reader.size
    absent = set(documents) - seen
    if absent:
        raise ArchiveError(
            f"{len(absent)} document(s), filed inbox item(s) or e-mail(s) have no object in the archive, "
            f"e.g. {sorted(absent)[0]}"
        )


def _insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert rows exactly as archived: no save(), no defaults, no auto_now.

    ``bulk_create`` sets ``auto_now`` fields to the present, so models with one are saved the way
    ``loaddata`` saves a fixture: a raw save (signals see ``raw=True``), here forced to an INSERT.
    """
    if not objs:
        return
    if any(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) for f in model._meta.concrete_fields):
        for obj in objs:
            serializers.base.DeserializedObject(obj).save(force_insert=True)
    else:
        model._base_manager.bulk_create(objs)


def _reset_sequences() -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), IMPORTED_MODELS)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _verify_restored_chains(archive: _Archive) -> None:
    for head in archive.manifest["audit_chain_heads"]:
        chain = verify_chain(head["chain"])
        if not chain.ok:
            raise ArchiveError(f"the restored audit chain does not verify: {chain.problem}")
