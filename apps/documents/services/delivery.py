"""Serving a document's bytes: availability checks, Range, integrity re-hash, safe headers.

The response is built here; its state changes are service calls: the download's audit
event (`document_record_read`) and marking a mismatching document corrupt
(`document_mark_corrupt`).

A full download is re-hashed while it streams. The last chunk is held back
until the hash is confirmed: on a mismatch the response is cut short (the
client sees an incomplete body, never a complete wrong one), the document is
marked corrupt and the failure audited. Range requests cannot be verified
against the whole-file hash per request; they are covered by full downloads
and the `verify_storage` scrub.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.documents.errors import DocumentCorrupt, IntegrityAbort, Quarantined, RangeNotSatisfiable, ScanPending
from apps.documents.models import Document, Integrity, ScanStatus
from apps.documents.services.reading import document_record_read
from apps.documents.services.scanning import document_mark_corrupt
from apps.files import storage
from apps.files.errors import StorageUnavailable
from apps.files.filenames import content_disposition
from quill.errors import Conflict

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def ensure_available(document: Document) -> None:
    """Nothing is served before a clean scan, nor once it is known to be corrupt (fail closed)."""
    if document.scan_status == ScanStatus.INFECTED:
        raise Quarantined()
    if document.scan_status in (ScanStatus.PENDING, ScanStatus.ERROR):
        raise ScanPending()
    if document.integrity != Integrity.OK:
        raise DocumentCorrupt()
    if document.purged_at is not None:
        raise Conflict("This document's file was permanently removed under the retention policy.")


def parse_range(header: str, size: int) -> ByteRange | None:
    """One `bytes=` range, or None to serve the whole document (absent, multi-range or unparseable)."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable()
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable()
    return ByteRange(start, end)


def repr_digest(document: Document) -> str:
    return "sha-256=:" + base64.b64encode(bytes.fromhex(document.sha256)).decode("ascii") + ":"


def etag(document: Document) -> str:
    return f'"{document.sha256}"'


def _verified_stream(document: Document, chunks: Iterator[bytes], actor: User | None) -> Iterator[bytes]:
    """Each chunk goes out as soon as it is read, except the one that completes the document.

    That one is sent only once the whole object's SHA-256 matches, so a client never
    receives a complete body that is wrong: a mismatch, or an object shorter than
    recorded, leaves it short of Content-Length. (Holding back every previous chunk
    instead delayed the first byte by a chunk's read and hash and gained nothing.)
    """
    digest = hashlib.sha256()
    received = 0
    final: bytes | None = None
    try:
        for chunk in chunks:
            digest.update(chunk)
            received += len(chunk)
            if final is None and received < document.size:
                yield chunk
            elif final is None:
                final = chunk
            # Bytes beyond the recorded size are only hashed: the digest cannot match.
    except StorageUnavailable:
        logger.error("storage failed mid-download", extra={"document_id": str(document.pk)})
        raise
    if digest.hexdigest() != document.sha256:
        document_mark_corrupt(document_id=document.pk, reason="download re-hash mismatch", actor=actor)
        raise IntegrityAbort(f"document {document.pk} failed its integrity check")
    if final is not None:
        yield final


def _security_headers(response: HttpResponse | StreamingHttpResponse, document: Document, disposition: str) -> None:
    response["Content-Type"] = document.content_type
    response["ETag"] = etag(document)
    response["Repr-Digest"] = repr_digest(document)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Accept-Ranges"] = "bytes"
    if disposition == "inline":
        # Shown inside Quill's own preview frame; scripts never run.
        response["Content-Disposition"] = content_disposition(document.original_filename, as_attachment=False)
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        response["X-Frame-Options"] = "SAMEORIGIN"
    else:
        response["Content-Disposition"] = content_disposition(document.original_filename)
        response["Content-Security-Policy"] = "default-src 'none'"


def document_content_response(
    *,
    request: HttpRequest,
    actor: User | None,
    document: Document,
    disposition: str = "attachment",
    audit_action: Action = Action.DOCUMENT_DOWNLOADED,
) -> HttpResponse | StreamingHttpResponse:
    """The document's bytes as an HTTP response (200, 206, 304 or 416), audited."""
    ensure_available(document)
    if_none_match = request.headers.get("If-None-Match", "")
    # If-Range (RFC 9110 13.1.5): a range of a copy the client no longer holds is no use; send it all.
    if_range = request.headers.get("If-Range", "").strip()
    range_header = request.headers.get("Range", "") if not if_range or if_range == etag(document) else ""
    requested = parse_range(range_header, document.size) if document.size else None
    details = {"disposition": disposition}
    if requested:
        details["range"] = f"{requested.start}-{requested.end}"
    if if_none_match and etag(document) in [tag.strip() for tag in if_none_match.split(",")]:
        not_modified = HttpResponse(status=304)
        not_modified["ETag"] = etag(document)
        return not_modified
    try:
        if requested is None:
            chunks = storage.open_range(document.storage_key)
        else:
            chunks = storage.open_range(document.storage_key, requested.start, requested.end)
    except FileNotFoundError as exc:
        document_mark_corrupt(document_id=document.pk, reason="stored object is missing", actor=actor)
        raise DocumentCorrupt() from exc
    response: HttpResponse | StreamingHttpResponse
    if requested is None:
        response = StreamingHttpResponse(_verified_stream(document, chunks, actor), status=200)
        response["Content-Length"] = str(document.size)
    else:
        response = StreamingHttpResponse(chunks, status=206)
        response["Content-Length"] = str(requested.length)
        response["Content-Range"] = f"bytes {requested.start}-{requested.end}/{document.size}"
    document_record_read(
        action=audit_action,
        document=document,
        actor=actor,
        details=details,
    )
    _security_headers(response, document, disposition)
    return response


def range_not_satisfiable_response(document: Document) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{document.size}"
    return response
