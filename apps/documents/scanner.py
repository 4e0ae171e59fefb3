"""Virus scanning with ClamAV's clamd over INSTREAM (unix socket or TCP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import clamd
from django.conf import settings


class ScannerUnavailable(Exception):
    """clamd could not be reached or failed mid-scan; the scan is retried later."""


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    signature: str = ""


def _client() -> clamd.ClamdUnixSocket | clamd.ClamdNetworkSocket:
    timeout = settings.QUILL_CLAMD_TIMEOUT_SECONDS
    if settings.QUILL_CLAMD_SOCKET:
        return clamd.ClamdUnixSocket(path=settings.QUILL_CLAMD_SOCKET, timeout=timeout)
    return clamd.ClamdNetworkSocket(host=settings.QUILL_CLAMD_HOST, port=settings.QUILL_CLAMD_PORT, timeout=timeout)


def scan_stream(reader: BinaryIO) -> ScanResult:
    """Stream `reader` to clamd. Raises ScannerUnavailable for anything but a clear verdict."""
    try:
        reply = _client().instream(reader)
    except (TimeoutError, clamd.ConnectionError, OSError) as exc:
        raise ScannerUnavailable(f"clamd is not reachable: {exc}") from exc
    status, detail = reply.get("stream", ("ERROR", "no reply"))
    if status == "OK":
        return ScanResult(clean=True)
    if status == "FOUND":
        return ScanResult(clean=False, signature=str(detail))
    raise ScannerUnavailable(f"clamd could not scan the document: {detail}")


def ping() -> str:
    try:
        return _client().ping()
    except (TimeoutError, clamd.ConnectionError, OSError) as exc:
        raise ScannerUnavailable(f"clamd is not reachable: {exc}") from exc


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def self_test() -> str:
    """PING, then scan the EICAR test string: proves clamd answers and has signatures loaded."""
    import io

    ping()
    result = scan_stream(io.BytesIO(EICAR))
    if result.clean:
        raise ScannerUnavailable("clamd did not detect the EICAR test file; its signatures are missing")
    return f"clamd ok ({result.signature})"
