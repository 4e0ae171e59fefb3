"""Spooling, hashing and the size limit: the plain function and the Django upload handler."""

from __future__ import annotations

import gc
import hashlib
import io
import os
from collections.abc import Iterator

import pytest
from django.core.files.uploadhandler import StopUpload

from apps.documents.errors import QuillError
from apps.files.spooling import CHUNK_SIZE, HEAD_SIZE, Spooler, read_chunks, spool
from apps.files.upload_handler import HashingUploadHandler
from tests.documents import samples

MiB = 1024 * 1024


def _counting_chunks(data: bytes, chunk_size: int, consumed: list[int]) -> Iterator[bytes]:
    """Yield ``data`` in chunks, recording how many chunks the consumer pulled."""
    for start in range(0, len(data), chunk_size):
        consumed.append(start)
        yield data[start : start + chunk_size]


# --- spool() -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(samples.pdf(), id="small-pdf"),
        pytest.param(b"x", id="one-byte"),
        pytest.param(os.urandom(3 * MiB + 17), id="three-mib-and-a-bit"),
    ],
)
def test_spool_hashes_and_sizes_match_hashlib(data: bytes, tmp_path) -> None:
    # given bytes arriving in 1 MiB chunks
    chunks = read_chunks(io.BytesIO(data))
    # when
    with spool(chunks, max_bytes=len(data), tmp_dir=str(tmp_path)) as spooled:
        # then size, hashes, head and the bytes on disk are exactly the upload's
        assert spooled.size == len(data)
        assert spooled.sha256 == hashlib.sha256(data).hexdigest()
        assert spooled.sha1 == hashlib.sha1(data).hexdigest()
        assert spooled.head == data[:HEAD_SIZE]
        with spooled.open() as reader:
            assert reader.read() == data
        assert b"".join(spooled.chunks()) == data
    # and leaving the block removes the temp file
    assert not os.path.exists(spooled.path)
    assert os.listdir(tmp_path) == []


def test_spool_of_nothing_is_an_empty_file(tmp_path) -> None:
    # given no bytes at all / when
    with spool([], max_bytes=10, tmp_dir=str(tmp_path)) as spooled:
        # then it is spooled (refusing empties is validation's job) with the hashes of b""
        assert (spooled.size, spooled.head) == (0, b"")
        assert spooled.sha256 == hashlib.sha256(b"").hexdigest()


def test_spool_refuses_mid_stream_without_reading_the_rest(tmp_path) -> None:
    # given a 10 MiB upload in 1 MiB chunks against a 2.5 MiB limit
    data = b"\x00" * (10 * MiB)
    consumed: list[int] = []
    # when
    with pytest.raises(QuillError) as refusal:
        spool(_counting_chunks(data, CHUNK_SIZE, consumed), max_bytes=int(2.5 * MiB), tmp_dir=str(tmp_path))
    # then it is refused as too large the moment the limit was passed: the third chunk, not the tenth
    assert (refusal.value.error_code, refusal.value.http_status) == ("file_too_large", 413)
    assert refusal.value.data["max_bytes"] == int(2.5 * MiB)
    assert "2.5 MB" in refusal.value.message
    assert len(consumed) == 3
    # and the temp file is gone
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("size", "accepted"),
    [pytest.param(1000, True, id="exactly-the-limit"), pytest.param(1001, False, id="one-byte-over")],
)
def test_spool_limit_is_inclusive(size: int, accepted: bool, tmp_path) -> None:
    # given an upload at or just over a 1000-byte limit
    chunks = [b"a" * 600, b"a" * (size - 600)]
    # when / then
    if accepted:
        with spool(chunks, max_bytes=1000, tmp_dir=str(tmp_path)) as spooled:
            assert spooled.size == size
    else:
        with pytest.raises(QuillError, match="larger than"):
            spool(chunks, max_bytes=1000, tmp_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_spool_removes_the_temp_file_when_the_source_fails(tmp_path) -> None:
    # given a source that breaks part-way (client disconnects)
    def broken() -> Iterator[bytes]:
        yield b"first chunk"
        raise ConnectionResetError("client went away")

    # when / then the error propagates and nothing is left behind
    with pytest.raises(ConnectionResetError):
        spool(broken(), max_bytes=MiB, tmp_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_discard_is_idempotent_and_forgotten_files_are_removed(tmp_path) -> None:
    # given two spooled files
    kept = spool([b"one"], max_bytes=10, tmp_dir=str(tmp_path))
    forgotten = spool([b"two"], max_bytes=10, tmp_dir=str(tmp_path))
    forgotten_path = forgotten.path
    # when one is discarded twice and the other is simply dropped
    kept.discard()
    kept.discard()
    del forgotten
    gc.collect()
    # then both temp files are gone
    assert kept.discarded
    assert not os.path.exists(forgotten_path)
    assert os.listdir(tmp_path) == []


def test_abandoned_spooler_removes_its_partial_file(tmp_path) -> None:
    # given a spooler that received data but was never finished (e.g. the parser raised)
    spooler = Spooler(max_bytes=MiB, tmp_dir=str(tmp_path))
    spooler.write(b"partial")
    assert os.listdir(tmp_path) != []
    # when it goes away
    del spooler
    gc.collect()
    # then so does its file
    assert os.listdir(tmp_path) == []


# --- HashingUploadHandler, driven the way Django's MultiPartParser drives it ---------------------


def _start(handler: HashingUploadHandler, name: str) -> None:
    handler.new_file("file", name, "application/pdf", None, None, {})


def test_handler_spools_and_hashes_each_file(tmp_path) -> None:
    # given a handler and two files arriving in chunks
    handler = HashingUploadHandler(None, max_bytes=MiB, tmp_dir=str(tmp_path))
    uploads = []
    for name, data in [("a.pdf", samples.pdf(2)), ("b.png", samples.png())]:
        _start(handler, name)
        for start in range(0, len(data), 1000):
            assert handler.receive_data_chunk(data[start : start + 1000], start) is None
        uploads.append((handler.file_complete(len(data)), data))
    handler.upload_complete()
    # then each upload exposes its spooled bytes and hashes
    for upload, data in uploads:
        assert upload.spooled.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.spooled.sha1 == hashlib.sha1(data).hexdigest()
        assert upload.size == len(data)
        assert upload.read() == data
    assert handler.refusal is None
    handler.raise_for_refusal()
    # and closing them (Django does this at the end of the request) removes the temp files
    for upload, _ in uploads:
        upload.close()
    assert os.listdir(tmp_path) == []


def test_handler_refuses_mid_stream_and_discards_the_whole_batch(tmp_path) -> None:
    # given a batch whose first file is fine and whose second passes the limit
    handler = HashingUploadHandler(None, max_bytes=1500, tmp_dir=str(tmp_path))
    _start(handler, "ok.pdf")
    handler.receive_data_chunk(b"a" * 1000, 0)
    first = handler.file_complete(1000)
    _start(handler, "huge.pdf")
    handler.receive_data_chunk(b"b" * 1000, 0)
    # when the chunk that passes the limit arrives
    with pytest.raises(StopUpload) as stop:
        handler.receive_data_chunk(b"b" * 1000, 1000)
    handler.upload_complete()  # Django calls this after draining the body
    # then Django is told to drain the body (clean response, no connection reset)
    assert stop.value.connection_reset is False
    # and the refusal is remembered for the view, naming the file
    with pytest.raises(QuillError) as refusal:
        handler.raise_for_refusal()
    assert (refusal.value.error_code, refusal.value.http_status) == ("file_too_large", 413)
    assert refusal.value.data["filename"] == "huge.pdf"
    # and no file of the batch is left on disk
    assert first.spooled.discarded
    assert os.listdir(tmp_path) == []


def test_handler_drops_the_partial_file_when_the_upload_is_interrupted(tmp_path) -> None:
    # given a file half received
    handler = HashingUploadHandler(None, max_bytes=MiB, tmp_dir=str(tmp_path))
    _start(handler, "a.pdf")
    handler.receive_data_chunk(b"a" * 100, 0)
    # when the client goes away
    handler.upload_interrupted()
    handler.upload_complete()
    # then nothing is left
    assert os.listdir(tmp_path) == []


def test_handler_reads_chunks_of_one_mebibyte() -> None:
    assert HashingUploadHandler.chunk_size == CHUNK_SIZE == MiB


# --- end to end through Django's real MultiPartParser ------------------------------------------


@pytest.fixture
def django_settings():
    """Django's parser reads a few settings; configure minimal ones unless a settings module is in charge."""
    from django.conf import settings

    if not settings.configured and "DJANGO_SETTINGS_MODULE" not in os.environ:
        settings.configure(QUILL_MAX_UPLOAD_BYTES=100 * MiB)
    return settings


def _multipart(files: list[tuple[str, bytes]], boundary: str = "QuillBoundary") -> bytes:
    body = b""
    for name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nScan\r\n'.encode()
    return body + f"--{boundary}--\r\n".encode()


def _parse(body: bytes, handler: HashingUploadHandler):
    from django.http.multipartparser import MultiPartParser

    stream = io.BytesIO(body)
    meta = {"CONTENT_TYPE": "multipart/form-data; boundary=QuillBoundary", "CONTENT_LENGTH": str(len(body))}
    post, files = MultiPartParser(meta, stream, [handler], "utf-8").parse()
    return post, files, stream


def test_parser_with_handler_yields_spooled_files(django_settings, tmp_path) -> None:
    # given a multipart body with two files and a field
    pdf, png = samples.pdf(), samples.png()
    handler = HashingUploadHandler(None, max_bytes=MiB, tmp_dir=str(tmp_path))
    # when Django parses it with our handler
    post, files, _ = _parse(_multipart([("a.pdf", pdf), ("b.png", png)]), handler)
    # then the fields and the hashed files come through
    assert post["title"] == "Scan"
    uploads = files.getlist("file")
    assert [u.name for u in uploads] == ["a.pdf", "b.png"]
    assert [u.spooled.sha256 for u in uploads] == [hashlib.sha256(pdf).hexdigest(), hashlib.sha256(png).hexdigest()]
    for upload in uploads:
        upload.close()
    assert os.listdir(tmp_path) == []


def test_parser_with_handler_refuses_oversized_file_and_drains_the_body(django_settings, tmp_path) -> None:
    # given a body whose second file is over the limit
    body = _multipart([("ok.pdf", samples.pdf()), ("huge.tiff", b"\x00" * (3 * MiB))])
    handler = HashingUploadHandler(None, max_bytes=MiB, tmp_dir=str(tmp_path))
    # when Django parses it
    _, files, stream = _parse(body, handler)
    # then the oversized file never reaches FILES, the refusal is recorded for a 413,
    assert [u.name for u in files.getlist("file")] == ["ok.pdf"]
    with pytest.raises(QuillError) as refusal:
        handler.raise_for_refusal()
    assert (refusal.value.error_code, refusal.value.http_status) == ("file_too_large", 413)
    # the rest of the body was read (so the client is still listening for the response)
    assert stream.tell() == len(body)
    # and no temp file survives, not even the accepted one of the refused batch
    assert os.listdir(tmp_path) == []


def test_handler_reads_the_limit_from_settings_lazily(django_settings) -> None:
    # given a handler built before the setting is known
    from django.test.utils import override_settings

    handler = HashingUploadHandler(None)
    # when the limit is first needed
    with override_settings(QUILL_MAX_UPLOAD_BYTES=1234):
        assert handler.max_bytes == 1234
