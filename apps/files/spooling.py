"""One streaming pass over an upload's bytes: spool to a temp file, hash, enforce the size limit.

The bytes are never held in memory as a whole: they go to a ``NamedTemporaryFile``
chunk by chunk while SHA-256 (the document's identity, ETag and storage metadata)
and SHA-1 (FHIR ``attachment.hash``) are computed. The size limit is enforced
while reading, so an oversized upload costs at most ``max_bytes`` of disk.

A spooled temp file lives exactly as long as its :class:`SpooledFile`: ``discard()``
(or leaving its ``with`` block, or the object being garbage collected) removes it,
so patient data is never left behind in the temp directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO, Self

from apps.files.errors import FileTooLarge

CHUNK_SIZE = 1024 * 1024  # 1 MiB: the unit of every read and write
HEAD_SIZE = 4096  # kept in memory for sniffing the real type from magic bytes
TEMP_PREFIX = "quill-upload-"


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _close_and_remove(file: IO[bytes], path: str) -> None:
    try:
        file.close()
    finally:
        _remove(path)


@dataclass(eq=False)
class SpooledFile:
    """An upload's bytes on local disk with their size, hashes and first bytes.

    Use as a context manager (or call :meth:`discard`) to remove the temp file.
    """

    path: str
    size: int
    sha256: str
    sha1: str
    head: bytes
    _finalizer: weakref.finalize = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # A backstop: the temp file goes with the object even if nobody calls discard().
        self._finalizer = weakref.finalize(self, _remove, self.path)

    @property
    def discarded(self) -> bool:
        return not self._finalizer.alive

    def open(self) -> BinaryIO:
        """A fresh binary reader positioned at the start; the caller closes it."""
        if self.discarded:
            raise FileNotFoundError(f"spooled upload already discarded: {self.path}")
        return open(self.path, "rb")

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The bytes again, in chunks (for putting the object into storage)."""
        with self.open() as reader:
            yield from read_chunks(reader, chunk_size)

    def discard(self) -> None:
        """Remove the temp file; safe to call more than once."""
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


class Spooler:
    """Incremental writer behind :func:`spool` and the Django upload handler.

    ``write()`` each chunk as it arrives, then ``finish()``; on exceeding
    ``max_bytes`` the temp file is removed before :class:`FileTooLarge` is raised.
    """

    def __init__(self, *, max_bytes: int, tmp_dir: str | None = None, filename: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.filename = filename
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._head = bytearray()
        self._file = tempfile.NamedTemporaryFile(prefix=TEMP_PREFIX, dir=tmp_dir, delete=False)  # noqa: SIM115
        self.path = self._file.name
        # Removes the partial file if the spooler is dropped mid-upload (client gone, parser error).
        self._finalizer = weakref.finalize(self, _close_and_remove, self._file, self.path)

    def write(self, chunk: bytes) -> None:
        if not self._finalizer.alive:
            raise ValueError("spooler already finished or aborted")
        if self.size + len(chunk) > self.max_bytes:
            self.abort()
            raise FileTooLarge(max_bytes=self.max_bytes, filename=self.filename)
        self.size += len(chunk)
        self._sha256.update(chunk)
        self._sha1.update(chunk)
        if len(self._head) < HEAD_SIZE:
            self._head += chunk[: HEAD_SIZE - len(self._head)]
        self._file.write(chunk)

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    def flush(self) -> None:
        """Hand what was written to the OS, so another reader of the file sees it."""
        self._file.flush()

    def finish(self) -> SpooledFile:
        """Close the file and hand it over to a :class:`SpooledFile`.

        No fsync: the temp file is a working copy, read back from the page cache and
        removed within the request; durability is the object store's job.
        """
        if not self._finalizer.alive:
            raise ValueError("spooler already finished or aborted")
        try:
            self._file.flush()
        except BaseException:
            self.abort()
            raise
        self._finalizer.detach()
        self._file.close()
        return SpooledFile(
            path=self.path,
            size=self.size,
            sha256=self._sha256.hexdigest(),
            sha1=self._sha1.hexdigest(),
            head=bytes(self._head),
        )

    def abort(self) -> None:
        """Close and remove the partial temp file; safe to call more than once."""
        self._finalizer()


def read_chunks(stream: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Read a binary stream in ``chunk_size`` pieces until EOF."""
    while chunk := stream.read(chunk_size):
        yield chunk


def spool(chunks: Iterable[bytes], *, max_bytes: int, tmp_dir: str | None = None) -> SpooledFile:
    """Write ``chunks`` to a temp file in one pass, hashing and enforcing ``max_bytes`` as they arrive.

    Raises :class:`FileTooLarge` as soon as the running total passes ``max_bytes``
    (the rest of ``chunks`` is not read and the temp file is already gone).
    Any other failure also removes the temp file.
    """
    spooler = Spooler(max_bytes=max_bytes, tmp_dir=tmp_dir)
    try:
        for chunk in chunks:
            spooler.write(chunk)
        return spooler.finish()
    except BaseException:
        spooler.abort()
        raise
