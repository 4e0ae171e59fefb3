"""Virus scanning with ClamAV's clamd over INSTREAM (unix socket or TCP).

INSTREAM is spoken directly: the `clamd` package's own INSTREAM sends 1 KiB
chunks with send() and does not retry partial writes, which can corrupt the
stream for large files. Here each chunk is length-prefixed and written with
sendall(); the package is used only for PING.
"""

from __future__ import annotations

import io
import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO

import clamd
from django.conf import settings

from apps.files import storage
from apps.files.errors import ScannerUnavailable

CHUNK_SIZE = 1024 * 1024  # must stay below clamd's StreamMaxLength
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str = ""


def _connect() -> socket.socket:
    timeout = settings.QUILL_CLAMD_TIMEOUT_SECONDS
    if settings.QUILL_CLAMD_SOCKET:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(settings.QUILL_CLAMD_SOCKET)
        return sock
    return socket.create_connection((settings.QUILL_CLAMD_HOST, settings.QUILL_CLAMD_PORT), timeout=timeout)


def _read_reply(sock: socket.socket) -> str:
    reply = b""
    while not reply.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply.rstrip(b"\0").decode("utf-8", "replace")


def scan_stream(reader: BinaryIO) -> ScanResult:
    """Stream `reader` to clamd. Raises ScannerUnavailable for anything but a clear verdict."""
    try:
        with _connect() as sock:
            sock.sendall(b"zINSTREAM\0")
            while chunk := reader.read(CHUNK_SIZE):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            reply = _read_reply(sock)
    except OSError as exc:
        raise ScannerUnavailable(f"clamd is not reachable: {exc}") from exc
    # Replies: "stream: OK", "stream: <Signature> FOUND", "INSTREAM size limit exceeded. ERROR", "... ERROR".
    _, _, verdict = reply.partition(": ")
    if verdict == "OK":
        return ScanResult(clean=True)
    if verdict.endswith(" FOUND"):
        return ScanResult(clean=False, signature=verdict.removesuffix(" FOUND"))
    raise ScannerUnavailable(f"clamd could not scan the document: {reply or 'no reply'}")


def scan_object(key: str) -> ScanResult:
    """Stream the stored object `key` to clamd. Raises FileNotFoundError (no such object),
    StorageUnavailable or ScannerUnavailable, none of which is a verdict."""
    reader = storage.open_reader(key)
    try:
        return scan_stream(reader)
    finally:
        reader.close()


def ping() -> str:
    try:
        if settings.QUILL_CLAMD_SOCKET:
            client = clamd.ClamdUnixSocket(path=settings.QUILL_CLAMD_SOCKET, timeout=5)
        else:
            client = clamd.ClamdNetworkSocket(host=settings.QUILL_CLAMD_HOST, port=settings.QUILL_CLAMD_PORT, timeout=5)
        return client.ping()
    except (clamd.ConnectionError, OSError) as exc:
        raise ScannerUnavailable(f"clamd is not reachable: {exc}") from exc


def self_test() -> str:
    """PING, then scan the EICAR test string: proves clamd answers and has signatures loaded."""
    ping()
    result = scan_stream(io.BytesIO(EICAR))
    if result.clean:
        raise ScannerUnavailable("clamd did not detect the EICAR test file; its signatures are missing")
    return f"clamd ok ({result.signature})"
