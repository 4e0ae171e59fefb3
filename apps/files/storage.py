"""Where document bytes live: S3 (django-storages S3Storage) or a private folder.

Keys never contain user-typed text:
``{organisation_id}/{patient_id}/documents/{yyyy}/{mm}/{uuid}.{ext}``.
On S3 the object's sha256 is stored as object metadata (``x-amz-meta-sha256``)
and large files go up as multipart uploads, so no object is held in memory.
On the filesystem the sha256 is kept in an extended attribute where the file
system supports it.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import storages

from apps.files.errors import StorageUnavailable

CHUNK_SIZE = 1024 * 1024
# Readiness probes write and delete objects under this prefix; verification and export skip it.
PROBE_PREFIX = "_probe/"
MULTIPART_THRESHOLD = 16 * 1024 * 1024
_XATTR = "user.quill.sha256"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


def documents_storage():
    return storages["documents"]


def is_s3() -> bool:
    return settings.QUILL_STORAGE == "s3"


def document_key(
    *, organisation_id: uuid.UUID, patient_id: uuid.UUID, document_id: uuid.UUID, extension: str, on: date
) -> str:
    ext = extension.lstrip(".").lower()
    suffix = f".{ext}" if ext else ""
    return f"{organisation_id}/{patient_id}/documents/{on:%Y}/{on:%m}/{document_id}{suffix}"


def thumbnail_key(key: str) -> str:
    stem, _, _ = key.rpartition(".")
    return f"{stem or key}_thumb.webp"


def searchable_pdf_key(key: str) -> str:
    """The searchable PDF/A that OCR made of the object at `key`, beside it: `{uuid}_text.pdf`."""
    stem, _, _ = key.rpartition(".")
    return f"{stem or key}_text.pdf"


RENDITIONS_SUFFIX = "_pages/"


def renditions_prefix(key: str) -> str:
    """Where the rendered pages of the object at `key` are kept: a folder beside it, `{uuid}_pages/`."""
    stem, _, _ = key.rpartition(".")
    return f"{stem or key}{RENDITIONS_SUFFIX}"


def rendition_key(key: str, name: str) -> str:
    """One rendered page of the object at `key`; `name` is made by the caller from numbers only."""
    return f"{renditions_prefix(key)}{name}.webp"


def renditions_owner_stem(key: str) -> str | None:
    """The stem (key without extension) of the object whose renditions folder holds `key`, else None."""
    stem, separator, rest = key.partition(RENDITIONS_SUFFIX)
    if not separator or not stem or "/" in rest or not rest.endswith(".webp"):
        return None
    return stem


# --- S3 ------------------------------------------------------------------------------


# Below this a PUT goes without `Expect: 100-continue` (botocore asks for it on every file body):
# waiting a round trip for the store's go-ahead costs more than sending a small body it may refuse.
EXPECT_CONTINUE_FROM = 1024 * 1024


def _s3_client_and_bucket():
    storage = documents_storage()
    client = storage.connection.meta.client  # one per thread (django-storages)
    if not getattr(client, "_quill_hooks", False):
        client.meta.events.register("before-sign.s3.PutObject", _no_expect_continue_on_small_bodies)
        client.meta.events.register("before-sign.s3.PutObject", _sign_digest_not_payload(client.meta.config))
        client._quill_hooks = True
    return client, storage.bucket_name


def _no_expect_continue_on_small_bodies(request, **kwargs) -> None:
    length = request.headers.get("Content-Length")
    if "Expect" in request.headers and length is not None and int(length) < EXPECT_CONTINUE_FROM:
        del request.headers["Expect"]


def _sign_digest_not_payload(config):
    """A PUT that carries the body's SHA-256 (``x-amz-checksum-sha256``) is signed without hashing the body again.

    The checksum header is signed and the store refuses a body that does not match it
    (``BadDigest``), so signing the payload's own SHA-256 as well would only make botocore
    read and hash the file a second time (over plain HTTP it always does, since it cannot
    know the header is there for the same purpose). Every other request signs its payload.
    """
    unsigned = config.merge(type(config)(s3={**(config.s3 or {}), "payload_signing_enabled": False}))

    def hook(request, **kwargs) -> None:
        if "x-amz-checksum-sha256" in request.headers:
            request.context["client_config"] = unsigned

    return hook


def _checksum_sha256(hex_digest: str) -> str:
    """The ``ChecksumSHA256`` parameter (base64 of the digest) for a hex SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def _s3_errors():
    import botocore.exceptions as bx
    from boto3.exceptions import Boto3Error  # S3UploadFailedError: a multipart upload_file that failed

    return (
        Boto3Error,
        bx.EndpointConnectionError,
        bx.ConnectionClosedError,
        bx.ReadTimeoutError,
        bx.ConnectTimeoutError,
        bx.ClientError,
        bx.BotoCoreError,
        ConnectionError,
        OSError,
    )


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_THRESHOLD,
        max_concurrency=4,
        use_threads=True,
    )


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


# --- Operations ------------------------------------------------------------------------


def put_file(*, key: str, path: str, sha256: str, content_type: str) -> StoredObject:
    """Store the file at `path` under `key`. Raises StorageUnavailable when the store is unreachable."""
    size = os.path.getsize(path)
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        extra = {"ContentType": content_type, "Metadata": {"sha256": sha256}}
        if settings.QUILL_S3_SSE:
            extra["ServerSideEncryption"] = settings.QUILL_S3_SSE
        try:
            if size < MULTIPART_THRESHOLD:
                # One request; the transfer manager's thread pool costs more than it saves here.
                # The digest Quill computed on receipt goes along: the store checks the bytes against it,
                # and botocore neither computes its default CRC32 nor hashes the body to sign it.
                with open(path, "rb") as body:
                    client.put_object(
                        Bucket=bucket, Key=key, Body=body, ContentLength=size, ChecksumSHA256=_checksum_sha256(sha256),
                        **extra,
                    )  # fmt: skip
            else:
                client.upload_file(path, bucket, key, ExtraArgs=extra, Config=_transfer_config())
        except _s3_errors() as exc:
            raise StorageUnavailable() from exc
        return StoredObject(key=key, size=size)
    target = _fs_path(key)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        partial = f"{target}.partial-{uuid.uuid4().hex}"
        with open(path, "rb") as source, open(partial, "xb") as sink:
            shutil.copyfileobj(source, sink, CHUNK_SIZE)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(partial, 0o600)
        with contextlib.suppress(OSError):
            os.setxattr(partial, _XATTR, sha256.encode("ascii"))
        os.replace(partial, target)
    except OSError as exc:
        with contextlib.suppress(Exception):
            os.unlink(partial)
        raise StorageUnavailable() from exc
    return StoredObject(key=key, size=size)


def put_bytes(*, key: str, data: bytes, content_type: str, sha256: str = "") -> None:
    """Store a small object held in memory (thumbnail, avatar, an email kept as provenance).

    A given `sha256` (hex, of `data`) is kept in the object's metadata and sent as its checksum, as
    ``put_file`` does: the store checks the bytes against it and botocore does not hash them again.
    """
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        extra: dict[str, str | dict[str, str]] = {"ContentType": content_type}
        if sha256:
            extra["Metadata"] = {"sha256": sha256}
            extra["ChecksumSHA256"] = _checksum_sha256(sha256)
        if settings.QUILL_S3_SSE:
            extra["ServerSideEncryption"] = settings.QUILL_S3_SSE
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, **extra)
        except _s3_errors() as exc:
            raise StorageUnavailable() from exc
        return
    target = _fs_path(key)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        partial = f"{target}.partial-{uuid.uuid4().hex}"
        with open(partial, "xb") as sink:
            sink.write(data)
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    except OSError as exc:
        raise StorageUnavailable() from exc


def open_range(key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Yield the object's bytes [start, end] (inclusive) in chunks, streaming.

    Raises FileNotFoundError when the object is missing and StorageUnavailable
    when the store cannot be reached (before the first chunk is yielded).
    """
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        params = {"Bucket": bucket, "Key": key}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = client.get_object(**params)["Body"]
        except _s3_errors() as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise StorageUnavailable() from exc
        return _iter_s3_body(body)
    path = _fs_path(key)
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the generator)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageUnavailable() from exc
    return _iter_file(handle, start, end)


def _iter_s3_body(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


def _iter_file(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = None if end is None else end - start + 1
        while remaining is None or remaining > 0:
            chunk = handle.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def open_reader(key: str) -> BinaryIO:
    """A file-like reader over the whole object (for clamd INSTREAM and thumbnails)."""
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"]
        except _s3_errors() as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise StorageUnavailable() from exc
    try:
        return open(_fs_path(key), "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageUnavailable() from exc


def local_path(key: str) -> str | None:
    """The object's own file when the store is the local filesystem (None on S3): for readers that
    need a path and never write to it (text extraction), instead of a copy. FileNotFoundError if missing."""
    if is_s3():
        return None
    path = _fs_path(key)
    if not os.path.isfile(path):
        raise FileNotFoundError(key)
    return path


def delete(key: str) -> None:
    """Remove an object; a missing object is not an error."""
    if not key:
        return
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        try:
            client.delete_object(Bucket=bucket, Key=key)
        except _s3_errors() as exc:
            raise StorageUnavailable() from exc
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_fs_path(key))


def delete_prefix(prefix: str) -> int:
    """Remove every object under `prefix` (which must end with "/"); returns how many. None is not an error."""
    if not prefix.endswith("/"):
        raise ValueError("delete_prefix needs a folder prefix ending in '/'")
    if is_s3():
        removed = 0
        for key, _, _ in list(list_keys(prefix)):
            delete(key)
            removed += 1
        return removed
    folder = _fs_path(prefix.rstrip("/"))
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise StorageUnavailable() from exc
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageUnavailable() from exc
    return len(names)


def read_bytes(key: str) -> bytes:
    """A small object's bytes (a thumbnail, a rendered page). FileNotFoundError when missing."""
    reader = open_reader(key)
    try:
        return reader.read()
    except FileNotFoundError:
        raise
    except Exception as exc:  # a connection dropped mid-read
        raise StorageUnavailable() from exc
    finally:
        reader.close()


def exists(key: str) -> bool:
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        try:
            client.head_object(Bucket=bucket, Key=key)
            return True
        except _s3_errors() as exc:
            if _is_missing(exc):
                return False
            raise StorageUnavailable() from exc
    return os.path.exists(_fs_path(key))


def stored_sha256(key: str) -> str:
    """The sha256 recorded with the object itself ('' when the store has none)."""
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        try:
            return client.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256", "")
        except _s3_errors() as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise StorageUnavailable() from exc
    try:
        return os.getxattr(_fs_path(key), _XATTR).decode("ascii")
    except OSError:
        return ""


def list_keys(prefix: str = "") -> Iterator[tuple[str, int, float]]:
    """Every object (key, size, last-modified epoch seconds) under `prefix`."""
    if is_s3():
        client, bucket = _s3_client_and_bucket()
        paginator = client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"], item["Size"], item["LastModified"].timestamp()
        except _s3_errors() as exc:
            raise StorageUnavailable() from exc
        return
    root = os.fspath(settings.QUILL_FILES_DIR)
    for directory, _, files in os.walk(root):
        for name in files:
            full = os.path.join(directory, name)
            key = os.path.relpath(full, root).replace(os.sep, "/")
            if key.startswith(prefix) and ".partial-" not in name:
                stat = os.stat(full)
                yield key, stat.st_size, stat.st_mtime


@dataclass(frozen=True)
class IncompleteUpload:
    """An S3 multipart upload that was started and never completed or aborted (its parts take space)."""

    key: str
    upload_id: str
    initiated: float  # epoch seconds


def list_incomplete_uploads(prefix: str = "") -> Iterator[IncompleteUpload]:
    """Multipart uploads still open under `prefix` (none on the filesystem store)."""
    if not is_s3():
        return
    client, bucket = _s3_client_and_bucket()
    paginator = client.get_paginator("list_multipart_uploads")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Uploads", []):
                yield IncompleteUpload(item["Key"], item["UploadId"], item["Initiated"].timestamp())
    except _s3_errors() as exc:
        raise StorageUnavailable() from exc


def abort_incomplete_upload(upload: IncompleteUpload) -> None:
    client, bucket = _s3_client_and_bucket()
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=upload.key, UploadId=upload.upload_id)
    except _s3_errors() as exc:
        if not _is_missing(exc) and "NoSuchUpload" not in str(exc):
            raise StorageUnavailable() from exc


def presigned_get_url(*, key: str, filename_disposition: str, content_type: str, expires_in: int) -> str:
    client, bucket = _s3_client_and_bucket()
    return client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ResponseContentDisposition": filename_disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=expires_in,
    )


def _fs_path(key: str) -> str:
    root = os.path.realpath(os.fspath(settings.QUILL_FILES_DIR))
    path = os.path.realpath(os.path.join(root, key))
    if not path.startswith(root + os.sep):
        raise ValueError("storage key escapes the documents folder")
    return path
