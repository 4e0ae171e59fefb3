"""A self-contained, portable archive of one organisation or the whole installation, and its restore.

The archive is one uncompressed POSIX tar file (documents are PDFs and images: they do not
compress), written and read member by member, so nothing is ever held whole in memory:

    rows/<table>.jsonl     one JSON object per row (organisations, users, patients, documents, ...)
    audit/events.jsonl     every audit event of the chains in scope, in chain order
    objects/<storage key>  the stored objects: documents, thumbnails, patient and user photos
    objects.jsonl          the object index: key, sha256, size (and which document)
    manifest.json          written last: scope, organisations, counts, the sha256 of every file
                           above, and the audit chain heads

`documents.jsonl` carries every document's metadata and sha256, `patients.jsonl` and
`letters.jsonl` the patients and letters; the manifest lists them by checksum rather than
copying them, which keeps it small however large the installation.

Import restores into an EMPTY installation only: rows are inserted exactly as exported
(raw inserts: no signals, no `audit_record`, audit rows keep their ids and hashes), every
file and object is re-hashed while it is read, every audit event's hash is recomputed and
linked, chain heads are set from the archive, and the restored chains are verified before the
transaction commits. On any failure the transaction rolls back and written objects are removed.

Not archived: API tokens (reissue them), TOTP devices (users enrol again), sessions, lockout
records, outbox messages (run the resync commands), group/permission memberships.
"""

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
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organisation, User
from apps.audit.hashing import HASHED_FIELDS, event_hash
from apps.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from apps.documents.models import Annotation, Document, ErasureRequest, Integrity
from apps.files import storage
from apps.letters.models import Letter
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient

FORMAT = "quill-archive"
VERSION = 1
MANIFEST = "manifest.json"
OBJECT_INDEX = "objects.jsonl"
EVENTS = "audit/events.jsonl"
CHAIN_HEADS = "rows/chain_heads.jsonl"
_BATCH = 500
_CHUNK = 1024 * 1024


class ArchiveError(Exception):
    """The archive is unusable, does not match its manifest, or cannot be imported here."""


@dataclass(frozen=True)
class Table:
    file: str
    model: type[models.Model]
    rows: Callable[[Scope], models.QuerySet]


@dataclass
class Scope:
    organisation_ids: list[uuid.UUID] | None  # None: everything

    def orgs(self, lookup: str = "organisation_id") -> Q:
        return Q() if self.organisation_ids is None else Q(**{f"{lookup}__in": self.organisation_ids})

    @property
    def chains(self) -> list[str] | None:
        return None if self.organisation_ids is None else [str(pk) for pk in self.organisation_ids]


def _users(scope: Scope) -> models.QuerySet:
    """All users, or the organisation's plus anyone its rows point at (e.g. a platform superuser)."""
    if scope.organisation_ids is None:
        return User.objects.order_by("pk")
    patient_orgs, document_orgs = scope.orgs("patient__organisation_id"), scope.orgs("document__organisation_id")
    documents = Document.objects.filter(scope.orgs())
    sources = [
        documents.values_list("uploaded_by_id", flat=True),
        documents.exclude(deleted_by=None).values_list("deleted_by_id", flat=True),
        Letter.objects.filter(scope.orgs()).values_list("author_id", flat=True),
        Annotation.objects.filter(document_orgs).values_list("author_id", flat=True),
        CareTeamMember.objects.filter(patient_orgs).values_list("user_id", flat=True),
        BreakGlassAccess.objects.filter(patient_orgs).values_list("user_id", flat=True),
        ErasureRequest.objects.filter(scope.orgs()).exclude(recorded_by=None).values_list("recorded_by_id", flat=True),
    ]
    referenced = set().union(*(set(source) for source in sources))
    return User.objects.filter(scope.orgs() | Q(pk__in=referenced)).order_by("pk")


def _chain_heads(scope: Scope) -> models.QuerySet:
    heads = ChainHead.objects.order_by("chain")
    return heads if scope.chains is None else heads.filter(chain__in=scope.chains)


TABLES = [
    Table("rows/organisations.jsonl", Organisation, lambda s: Organisation.objects.filter(s.orgs("pk")).order_by("pk")),
    Table("rows/users.jsonl", User, _users),
    Table("rows/patients.jsonl", Patient, lambda s: Patient.objects.filter(s.orgs()).order_by("pk")),
    Table(
        "rows/care_team.jsonl",
        CareTeamMember,
        lambda s: CareTeamMember.objects.filter(s.orgs("patient__organisation_id")).order_by("pk"),
    ),
    Table(
        "rows/break_glass.jsonl",
        BreakGlassAccess,
        lambda s: BreakGlassAccess.objects.filter(s.orgs("patient__organisation_id")).order_by("pk"),
    ),
    Table(
        "rows/documents.jsonl",
        Document,
        lambda s: Document.objects.filter(s.orgs()).order_by("lineage_id", "version_number"),
    ),
    Table(
        "rows/annotations.jsonl",
        Annotation,
        lambda s: Annotation.objects.filter(s.orgs("document__organisation_id")).order_by("pk"),
    ),
    Table("rows/letters.jsonl", Letter, lambda s: Letter.objects.filter(s.orgs()).order_by("created_at", "pk")),
    Table(
        "rows/erasure_requests.jsonl", ErasureRequest, lambda s: ErasureRequest.objects.filter(s.orgs()).order_by("pk")
    ),
    Table(CHAIN_HEADS, ChainHead, _chain_heads),
]
IMPORTED_MODELS = [table.model for table in TABLES] + [AuditEvent]


# --- Row encoding ------------------------------------------------------------------------------


def _fields(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()  # full precision: audit hashes depend on the microseconds
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def encode_row(obj: models.Model) -> dict[str, Any]:
    return {f.attname: _plain(f.value_from_object(obj)) for f in _fields(type(obj))}


def decode_row(model: type[models.Model], row: dict[str, Any]) -> models.Model:
    values = {}
    for f in _fields(model):
        if f.attname not in row:
            raise ArchiveError(f"{model._meta.label} row lacks {f.attname}")
        value = row[f.attname]
        values[f.attname] = value if value is None or isinstance(f, models.JSONField) else f.to_python(value)
    return model(**values)


def _insert(model: type[models.Model], objs: list[models.Model]) -> None:
    """Insert rows exactly as given (raw: auto_now and defaults are not applied, no signals)."""
    if objs:
        model._base_manager._insert(objs, fields=_fields(model), raw=True)


# --- Writing -----------------------------------------------------------------------------------


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
    for model in (Patient, User):
        rows = model.objects.order_by("pk")
        rows = _users(scope) if model is User else rows.filter(scope.orgs())
        for photo_key, avatar_key in rows.values_list("photo_key", "avatar_key").iterator():
            for key in (photo_key, avatar_key):
                if key:
                    yield {"key": key, "expect": "", "document": None}


def _export_objects(tar: tarfile.TarFile, work: str, scope: Scope, result: ExportResult, progress: Callable) -> dict:
    index = _Spool(work)
    for entry in progress(_objects_in_scope(scope)):
        key, expect = entry.pop("key"), entry.pop("expect")
        _check_key(key)
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
    heads = _chain_heads(scope)
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


# --- Reading -----------------------------------------------------------------------------------


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
        while chunk := self.read(_CHUNK):
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
        return self.tar.extractfile(member)

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


def _check_key(key: str) -> None:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ArchiveError(f"unsafe storage key in the archive: {key!r}")


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
    """Insert every table; returns {document id: what the object must be} for the object check."""
    documents: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        batch: list[models.Model] = []
        count = 0
        for row in archive.rows(table.file):
            obj = decode_row(table.model, row)
            count += 1
            if table.model is Document and obj.purged_at is None:
                documents[str(obj.pk)] = {
                    "sha256": obj.sha256,
                    "key": obj.storage_key,
                    "corrupt": obj.integrity == Integrity.CORRUPT,
                    "content_type": obj.content_type,
                }
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
            _check_key(key)
            document = documents.get(entry.get("document") or "")
            if entry.get("missing"):
                result.missing.append(key)
                seen.add(entry.get("document") or "")
                continue
            if document is not None and not entry.get("thumbnail"):
                seen.add(entry["document"])
                if document["key"] != key:
                    raise ArchiveError(f"object {key} is not document {entry['document']}'s object")
                if not (document["corrupt"] or entry.get("mismatch")) and entry["sha256"] != document["sha256"]:
                    raise ArchiveError(f"object {key} does not have document {entry['document']}'s sha256")
            local = os.path.join(work, "object")
            reader = _HashingReader(archive.open(f"objects/{key}"))
            with open(local, "wb") as sink:
                while chunk := reader.read(_CHUNK):
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
        raise ArchiveError(f"{len(absent)} document(s) have no object in the archive, e.g. {sorted(absent)[0]}")


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
