"""Service checks for the document store and the virus scanner (registered in DocumentsConfig.ready)."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid

from django.conf import settings

from apps.files import storage


def check_storage() -> str:
    """Write, read back and delete a small probe object under `_probe/`."""
    key = f"{storage.PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
    data = f"quill storage probe {key}".encode()
    digest = hashlib.sha256(data).hexdigest()
    storage.put_bytes(key=key, data=data, content_type="text/plain", sha256=digest)
    try:
        read = b"".join(storage.open_range(key))
    finally:
        storage.delete(key)
    if read != data:
        raise OSError("the probe object read back differs from what was written")
    if storage.exists(key):
        raise OSError("the probe object is still there after it was deleted")
    return f"{settings.QUILL_STORAGE}: write, read and delete ok"


def check_scanner() -> str | None:
    """PING clamd and scan the EICAR test string (skipped when the scanner is off)."""
    if settings.QUILL_SCANNER != "clamd":
        return None
    from apps.files.scanner import self_test

    return self_test()


def register_checks() -> None:
    from quill.checks import register

    register("storage", check_storage)
    register("clamd", check_scanner)
