"""Putting an upload into S3 while its bytes are still arriving (``QUILL_S3_STREAM_UPLOADS``).

The ordinary upload receives the whole file, validates it, then puts it: the
put starts only when the upload has ended, so a large upload costs the receive
time plus the store's own put time. When the client declares the file's SHA-256
up front (``Repr-Digest``, RFC 9530), the object's metadata is known before the
first byte, so a :class:`StreamingPut` can start an S3 multipart upload at once
and send each part from the spool file as soon as the part is on local disk.

Nothing becomes visible early: S3 shows no object until the multipart upload is
*completed*, and that happens only after every check has passed and the
computed digest equals the declared one. A refusal, a digest mismatch or any
failure aborts the multipart upload, which removes its parts. If a part fails
to send (the store hiccups), the streaming put is abandoned and the upload
falls back to the ordinary put of the spool file at the end, which refuses with
``storage_unavailable`` when the store is really down.

Memory stays bounded: a part is read back from the spool file (``os.pread``)
by a sender thread, and at most ``MAX_PARTS_IN_FLIGHT`` parts are in memory.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

from apps.files import storage
from apps.files.errors import FileTooLarge, IncompleteBody, InvalidDigest, StorageUnavailable
from apps.files.spooling import CHUNK_SIZE, HEAD_SIZE, SpooledFile, Spooler

logger = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # S3's minimum is 5 MiB (but for the last part); 10,000 parts = 80 GiB
MAX_PARTS_IN_FLIGHT = 2
# Below this a single put after receiving is cheaper than create + parts + complete.
STREAM_THRESHOLD = storage.MULTIPART_THRESHOLD


@dataclass(frozen=True)
class ObjectTarget:
    """Where and how a streamed upload would be stored."""

    key: str
    content_type: str
    sha256: str


class StreamingPut:
    """An S3 multipart upload fed part by part from a spool file that is still growing."""

    def __init__(self, target: ObjectTarget, spool_path: str) -> None:
        self.target = target
        self._client, self._bucket = storage._s3_client_and_bucket()
        extra = {"ContentType": target.content_type, "Metadata": {"sha256": target.sha256}}
        if settings.QUILL_S3_SSE:
            extra["ServerSideEncryption"] = settings.QUILL_S3_SSE
        self._upload_id = self._client.create_multipart_upload(Bucket=self._bucket, Key=target.key, **extra)["UploadId"]
        self._fd = os.open(spool_path, os.O_RDONLY)
        self._slots = threading.BoundedSemaphore(MAX_PARTS_IN_FLIGHT)
        self._executor = ThreadPoolExecutor(max_workers=MAX_PARTS_IN_FLIGHT, thread_name_prefix="quill-s3-part")
        self._parts: list[Future] = []
        self._offered = 0
        self.failed = False
        self.finished = False
        self.completed = False

    @property
    def key(self) -> str:
        return self.target.key

    def wants(self, size: int) -> bool:
        """Whether a spool file of `size` bytes holds a whole part not yet sent."""
        return not self.failed and size - self._offered >= PART_SIZE

    def offer(self, size: int) -> None:
        """The spool file holds `size` bytes on disk: send every whole part not yet sent."""
        while self.wants(size):
            self._send(self._offered, PART_SIZE)

    def _send(self, offset: int, length: int) -> None:
        if any(part.done() and part.exception() for part in self._parts):
            self._give_up()
            return
        self._slots.acquire()  # back-pressure: no more than MAX_PARTS_IN_FLIGHT parts in memory
        number = len(self._parts) + 1
        self._parts.append(self._executor.submit(self._send_part, number, offset, length))
        self._offered += length

    def _send_part(self, number: int, offset: int, length: int) -> dict:
        try:
            data = os.pread(self._fd, length, offset)
            response = self._client.upload_part(
                Bucket=self._bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=data
            )
            return {"PartNumber": number, "ETag": response["ETag"]}
        finally:
            self._slots.release()

    def finish(self, size: int) -> bool:
        """Send the rest and wait for every part; False when the streamed put had to be abandoned."""
        if not self.failed and (size > self._offered or not self._parts):
            self._send(self._offered, size - self._offered)
        if not self.failed:
            for part in self._parts:
                if part.exception() is not None:
                    logger.warning("streamed part failed; will put the whole file instead", exc_info=part.exception())
                    self._give_up()
                    break
        self.finished = not self.failed
        return self.finished

    def complete(self) -> None:
        """Make the object visible (call only after every check passed)."""
        if not self.finished:
            raise RuntimeError("complete() before a successful finish()")
        parts = [part.result() for part in self._parts]
        try:
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": parts}
            )
        except storage._s3_errors() as exc:
            self.abort()
            raise StorageUnavailable() from exc
        self.completed = True
        self._close()

    def abort(self) -> None:
        """Drop every part sent; the object never appears. Safe to call more than once."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._upload_id:
            try:
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=self.key, UploadId=self._upload_id)
            except storage._s3_errors():  # the orphan sweep aborts stale multipart uploads
                logger.exception("could not abort a streamed upload", extra={"key": self.key})
        self._close()

    def _give_up(self) -> None:
        self.failed = True
        self.abort()

    def _close(self) -> None:
        self._upload_id = ""
        self._executor.shutdown(wait=False)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def receive_body(
    stream: BinaryIO,
    *,
    length: int,
    max_bytes: int,
    filename: str,
    tmp_dir: str | None = None,
    target_for: Callable[[bytes], ObjectTarget | None] | None = None,
) -> tuple[SpooledFile, StreamingPut | None]:
    """Spool `length` bytes of a request body, streaming them to S3 when `target_for` names a target.

    `target_for` is called once with the first bytes (for the sniffed type); it returns
    where to put the object, or None to put it the ordinary way afterwards. On any
    failure the temp file is removed and a started multipart upload aborted.
    """
    if length > max_bytes:
        raise FileTooLarge(max_bytes=max_bytes, filename=filename)
    if length < STREAM_THRESHOLD or not storage.is_s3() or not settings.QUILL_S3_STREAM_UPLOADS:
        target_for = None
    spooler = Spooler(max_bytes=max_bytes, tmp_dir=tmp_dir, filename=filename)
    put: StreamingPut | None = None
    try:
        remaining = length
        while remaining:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise IncompleteBody(expected=length, received=length - remaining)
            spooler.write(chunk)
            remaining -= len(chunk)
            if target_for is not None and spooler.size >= HEAD_SIZE:
                target = target_for(spooler.head)
                target_for = None  # asked once
                if target is not None:
                    put = _start(target, spooler.path)
            if put is not None and put.wants(spooler.size):
                spooler.flush()
                put.offer(spooler.size)
        spooled = spooler.finish()
        if put is not None and not put.finish(spooled.size):
            put = None
        return spooled, put
    except BaseException:
        spooler.abort()
        if put is not None:
            put.abort()
        raise


def _start(target: ObjectTarget, spool_path: str) -> StreamingPut | None:
    try:
        return StreamingPut(target, spool_path)
    except storage._s3_errors():
        logger.warning("could not start a streamed upload; will put the whole file instead", exc_info=True)
        return None


def parse_repr_digest(header: str) -> str:
    """The SHA-256 (hex) from an RFC 9530 ``Repr-Digest`` header, or '' when it names no sha-256.

    Other algorithms are ignored, as the RFC allows; a header that cannot be
    parsed, or a sha-256 that is not 32 bytes of base64, raises InvalidDigest.
    """
    if not header.strip():
        return ""
    found = ""
    for member in header.split(","):
        name, sep, value = member.strip().partition("=")
        value = value.strip()
        if not sep or not name or len(value) < 2 or not (value.startswith(":") and value.endswith(":")):
            raise InvalidDigest()
        if name.strip().lower() != "sha-256":
            continue
        try:
            raw = base64.b64decode(value[1:-1], validate=True)
        except binascii.Error as exc:
            raise InvalidDigest() from exc
        if len(raw) != hashlib.sha256().digest_size:
            raise InvalidDigest()
        found = raw.hex()
    return found
