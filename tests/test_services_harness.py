"""The real-service harness works: S3 (SeaweedFS), clamd, Redis, Celery workers and Chromium.

These tests need no Django; run them with
`.venv/bin/python -m pytest -p no:django -p no:cacheprovider tests/test_services_harness.py`.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import clamd as clamd_client
import pytest
import redis
import requests
from botocore.exceptions import ClientError, EndpointConnectionError
from playwright.sync_api import Browser, Page

from tests.services import REPO_ROOT, ServiceError
from tests.services.celery_worker import CeleryWorker
from tests.services.clamd import (
    EICAR,
    EICAR_SIGNATURE,
    QUILL_TEST_MALWARE,
    QUILL_TEST_MALWARE_SIGNATURE,
    STREAM_MAX_BYTES,
    Clamd,
)
from tests.services.ports import SEAWEEDFS_GRPC_OFFSET, free_ports, release_ports
from tests.services.seaweedfs import SeaweedS3

pytest_plugins = ["tests.services.plugin"]

PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of every TCP socket that process `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip)
            if width == 4:
                ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                ip = socket.inet_ntop(socket.AF_INET6, words)
            found.add((ip, int(hex_port, 16)))
    return found


# --- ports ---------------------------------------------------------------------------------


def test_free_ports_are_distinct_and_their_grpc_shadows_are_free_too() -> None:
    ports = free_ports(5, offsets=(0, SEAWEEDFS_GRPC_OFFSET))
    try:
        every_port = [port + offset for port in ports for offset in (0, SEAWEEDFS_GRPC_OFFSET)]
        assert len(set(every_port)) == 10
        for port in every_port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
        # Reserved ports are not handed out again while held.
        assert not set(free_ports(50)) & set(every_port)
    finally:
        release_ports(ports, offsets=(0, SEAWEEDFS_GRPC_OFFSET))


# --- S3 (SeaweedFS) -----------------------------------------------------------------------------


def test_s3_serves_signed_requests_and_binds_only_loopback(s3_server: SeaweedS3) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="hello.txt", Body=b"hello")

    assert client.get_object(Bucket=s3_server.bucket, Key="hello.txt")["Body"].read() == b"hello"
    addresses = _listening_addresses(s3_server.pid)
    assert ("127.0.0.1", s3_server.s3_port) in addresses
    assert {ip for ip, _ in addresses} == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("access_key", "secret_key", "error_code"),
    [
        (None, "not-the-secret", "SignatureDoesNotMatch"),
        ("someone-else", None, "InvalidAccessKeyId"),
    ],
    ids=["wrong-secret", "unknown-access-key"],
)
def test_s3_refuses_wrong_credentials(
    s3_server: SeaweedS3, access_key: str | None, secret_key: str | None, error_code: str
) -> None:
    client = s3_server.client(
        aws_access_key_id=access_key or s3_server.access_key,
        aws_secret_access_key=secret_key or s3_server.secret_key,
    )

    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=s3_server.bucket, Key="intruder.txt", Body=b"x")

    assert refused.value.response["Error"]["Code"] == error_code
    with pytest.raises(ClientError):
        s3_server.client().head_object(Bucket=s3_server.bucket, Key="intruder.txt")


def test_s3_refuses_anonymous_requests(s3_server: SeaweedS3) -> None:
    s3_server.client().put_object(Bucket=s3_server.bucket, Key="private.txt", Body=b"secret")

    anonymous_get = requests.get(f"{s3_server.endpoint_url}/{s3_server.bucket}/private.txt", timeout=5)
    anonymous_put = requests.put(f"{s3_server.endpoint_url}/{s3_server.bucket}/anon.txt", data=b"x", timeout=5)

    assert anonymous_get.status_code == 403
    assert anonymous_put.status_code == 403


def test_s3_presigned_get_works_and_tampering_or_expiry_is_refused(s3_server: SeaweedS3) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="letter.pdf", Body=PDF_BYTES, ContentType="application/pdf")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3_server.bucket, "Key": "letter.pdf"}, ExpiresIn=3600
    )
    short_url = client.generate_presigned_url(
        "get_object", Params={"Bucket": s3_server.bucket, "Key": "letter.pdf"}, ExpiresIn=1
    )

    fetched = requests.get(url, timeout=5)
    tampered = requests.get(url.replace("letter.pdf", "letter.pdf.bak"), timeout=5)
    time.sleep(2.1)
    expired = requests.get(short_url, timeout=5)

    assert fetched.status_code == 200
    assert fetched.content == PDF_BYTES
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert tampered.status_code == 403
    assert expired.status_code == 403


def test_s3_range_get_returns_the_requested_bytes(s3_server: SeaweedS3) -> None:
    body = bytes(range(256)) * 40
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="range.bin", Body=body)

    partial = client.get_object(Bucket=s3_server.bucket, Key="range.bin", Range="bytes=100-199")
    suffix = client.get_object(Bucket=s3_server.bucket, Key="range.bin", Range="bytes=-10")

    assert partial["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert partial["ContentRange"] == f"bytes 100-199/{len(body)}"
    assert partial["Body"].read() == body[100:200]
    assert suffix["Body"].read() == body[-10:]


def test_s3_user_metadata_round_trips(s3_server: SeaweedS3) -> None:
    body = b"lab report"
    digest = hashlib.sha256(body).hexdigest()
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="meta.txt", Body=body, Metadata={"sha256": digest})

    head = client.head_object(Bucket=s3_server.bucket, Key="meta.txt")
    raw = requests.get(
        client.generate_presigned_url("get_object", Params={"Bucket": s3_server.bucket, "Key": "meta.txt"}),
        timeout=5,
    )

    assert head["Metadata"] == {"sha256": digest}
    assert raw.headers["x-amz-meta-sha256"] == digest


def test_s3_accepts_sse_s3(s3_server: SeaweedS3) -> None:
    client = s3_server.client()

    put = client.put_object(
        Bucket=s3_server.bucket, Key="sse.txt", Body=b"encrypted at rest", ServerSideEncryption="AES256"
    )
    head = client.head_object(Bucket=s3_server.bucket, Key="sse.txt")
    got = client.get_object(Bucket=s3_server.bucket, Key="sse.txt")

    assert put["ServerSideEncryption"] == "AES256"
    assert head["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == b"encrypted at rest"


def test_s3_multipart_upload(s3_server: SeaweedS3) -> None:
    part_one = os.urandom(5 * 1024 * 1024)
    part_two = os.urandom(1024 * 1024 + 7)
    client = s3_server.client()
    upload = client.create_multipart_upload(
        Bucket=s3_server.bucket, Key="scan.tiff", Metadata={"sha256": hashlib.sha256(part_one + part_two).hexdigest()}
    )
    parts = []
    for number, data in enumerate([part_one, part_two], start=1):
        uploaded = client.upload_part(
            Bucket=s3_server.bucket, Key="scan.tiff", UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})

    done = client.complete_multipart_upload(
        Bucket=s3_server.bucket, Key="scan.tiff", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    got = client.get_object(Bucket=s3_server.bucket, Key="scan.tiff")

    assert done["ETag"].strip('"').endswith("-2")
    assert got["ContentLength"] == len(part_one) + len(part_two)
    assert got["Body"].read() == part_one + part_two
    assert got["Metadata"]["sha256"] == hashlib.sha256(part_one + part_two).hexdigest()


def test_s3_outage_and_restart_keep_endpoint_and_objects(s3_server: SeaweedS3) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_server.bucket, Key="survivor.txt", Body=b"still here")
    endpoint = s3_server.endpoint_url

    s3_server.stop()
    with pytest.raises(EndpointConnectionError):
        client.get_object(Bucket=s3_server.bucket, Key="survivor.txt")
    s3_server.start()

    assert s3_server.endpoint_url == endpoint
    assert client.get_object(Bucket=s3_server.bucket, Key="survivor.txt")["Body"].read() == b"still here"


def test_s3_stopped_by_a_test_is_restarted_for_the_next_one(s3_server: SeaweedS3) -> None:
    s3_server.kill()  # left down on purpose; the plugin must bring it back

    assert not s3_server.is_running


def test_s3_is_running_again_after_a_test_left_it_down(s3_server: SeaweedS3) -> None:
    assert s3_server.is_running
    assert s3_server.client().head_bucket(Bucket=s3_server.bucket)


def test_s3_start_failure_raises_with_the_log_tail() -> None:
    server = SeaweedS3(startup_timeout=10)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.0.1", server.s3_port))
        blocker.listen()
        with pytest.raises(ServiceError) as failed:
            server.start()
    finally:
        blocker.close()
        server.close()

    assert "--- last lines of" in str(failed.value)
    assert f"Port allocation failed: port {server.s3_port}" in str(failed.value)
    assert not server.is_running
    assert not server.base_dir.exists()


# --- clamd -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (EICAR, ("FOUND", EICAR_SIGNATURE)),
        (PDF_BYTES[:40] + QUILL_TEST_MALWARE + PDF_BYTES[40:], ("FOUND", QUILL_TEST_MALWARE_SIGNATURE)),
        (QUILL_TEST_MALWARE, ("FOUND", QUILL_TEST_MALWARE_SIGNATURE)),
        (PDF_BYTES, ("OK", None)),
        (EICAR[:-1], ("OK", None)),
    ],
    ids=["eicar", "marker-inside-pdf", "marker-alone", "clean-pdf", "truncated-eicar"],
)
def test_clamd_instream_verdicts(clamd_server: Clamd, payload: bytes, expected: tuple[str, str | None]) -> None:
    verdict = clamd_server.client().instream(io.BytesIO(payload))

    assert verdict == {"stream": expected}


def _instream(socket_path: str, chunks: Iterator[bytes]) -> bytes:
    """Raw INSTREAM with large chunks and sendall (the clamd package sends 1 KiB chunks with send())."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(120)
        connection.connect(socket_path)
        connection.sendall(b"zINSTREAM\0")
        for chunk in chunks:
            connection.sendall(struct.pack("!L", len(chunk)) + chunk)
        connection.sendall(struct.pack("!L", 0))
        answer = b""
        while not answer.endswith(b"\0"):
            received = connection.recv(4096)
            if not received:
                break
            answer += received
    return answer.rstrip(b"\0")


def test_clamd_accepts_streams_over_200_mib(clamd_server: Clamd) -> None:
    size = 201 * 1024 * 1024
    chunk = b"\0" * (4 * 1024 * 1024)
    tail = b"%%EOF" + QUILL_TEST_MALWARE

    def chunks() -> Iterator[bytes]:
        sent = 0
        while sent + len(chunk) <= size:
            yield chunk
            sent += len(chunk)
        yield tail

    answer = _instream(clamd_server.socket_path, chunks())

    assert STREAM_MAX_BYTES >= 200 * 1024 * 1024
    assert answer == f"stream: {QUILL_TEST_MALWARE_SIGNATURE} FOUND".encode()


def test_clamd_runs_as_the_starting_user_and_restarts(clamd_server: Clamd) -> None:
    uid = int(Path(f"/proc/{clamd_server.pid}/status").read_text().split("Uid:")[1].split()[0])
    assert uid == os.getuid()
    old_pid = clamd_server.pid

    clamd_server.stop()
    with pytest.raises(clamd_client.ConnectionError):
        clamd_server.client(timeout=2).ping()
    clamd_server.restart()

    assert clamd_server.pid != old_pid
    assert clamd_server.client().ping() == "PONG"
    assert clamd_server.client().instream(io.BytesIO(EICAR)) == {"stream": ("FOUND", EICAR_SIGNATURE)}


def test_clamd_start_failure_raises_with_the_log_tail() -> None:
    daemon = Clamd(extra_databases={"broken.ndb": "this is not a signature\n"}, startup_timeout=20)

    with pytest.raises(ServiceError) as failed:
        daemon.start()
    daemon.close()

    assert "exited with code" in str(failed.value)
    assert "broken.ndb" in str(failed.value)
    assert not daemon.base_dir.exists()


# --- Redis ---------------------------------------------------------------------------------------


def test_redis_url_uses_the_run_database_and_is_usable(redis_url: str) -> None:
    expected_db = int(os.environ.get("QUILL_TEST_REDIS_DB", "15"))
    connection = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        connection.set("quill-harness", "ok", ex=60)

        assert redis_url == f"redis://127.0.0.1:6379/{expected_db}"
        assert connection.get("quill-harness") == b"ok"
    finally:
        connection.close()


# --- Celery workers -------------------------------------------------------------------------


def test_celery_worker_runs_tasks_and_comes_back_after_a_kill(redis_url: str, tmp_path: Path) -> None:
    from tests.services import celery_probe_app

    celery_probe_app.app.conf.update(broker_url=redis_url, result_backend=redis_url)
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    worker = CeleryWorker(
        env={"QUILL_PROBE_REDIS_URL": redis_url},
        queues=[queue],
        app="tests.services.celery_probe_app",
        log_dir=tmp_path,
    )
    try:
        worker.start()
        first_pid = celery_probe_app.worker_pid.apply_async(queue=queue).get(timeout=20)

        worker.kill()
        assert not worker.is_running
        worker.start()
        restarted_pid = worker.pid
        second_pid = celery_probe_app.worker_pid.apply_async(queue=queue).get(timeout=20)
        total = celery_probe_app.add.apply_async((2, 3), queue=queue).get(timeout=20)
    finally:
        worker.stop()

    assert first_pid != second_pid
    assert second_pid == restarted_pid  # the solo pool runs tasks in the worker process itself
    assert total == 5
    assert not worker.is_running


def test_celery_worker_stop_is_bounded_even_mid_task(redis_url: str, tmp_path: Path) -> None:
    from tests.services import celery_probe_app

    celery_probe_app.app.conf.update(broker_url=redis_url, result_backend=redis_url)
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    worker = CeleryWorker(
        env={"QUILL_PROBE_REDIS_URL": redis_url},
        queues=[queue],
        app="tests.services.celery_probe_app",
        log_dir=tmp_path,
    ).start()
    celery_probe_app.sleep.apply_async((60,), queue=queue)
    time.sleep(1.0)

    started = time.monotonic()
    worker.stop(timeout=2)

    assert time.monotonic() - started < 10
    assert not worker.is_running


def test_celery_worker_start_failure_raises_with_the_log_tail(tmp_path: Path) -> None:
    worker = CeleryWorker(env={}, app="tests.services.no_such_module", log_dir=tmp_path, startup_timeout=30)

    with pytest.raises(ServiceError) as failed:
        worker.start()

    assert "exited with code" in str(failed.value)
    assert "no_such_module" in str(failed.value)


@pytest.mark.skipif(not (REPO_ROOT / "quill" / "celery.py").exists(), reason="quill/celery.py not written yet")
def test_quill_celery_app_worker_starts_and_answers_ping(
    redis_url: str, celery_worker_factory: Callable[..., CeleryWorker], tmp_path: Path
) -> None:
    from celery import Celery

    worker = celery_worker_factory(
        env={
            "DJANGO_SETTINGS_MODULE": "quill.settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "CELERY_BROKER_URL": redis_url,
            "QUILL_REDIS_URL": redis_url,
        },
        queues=["celery"],
        log_dir=tmp_path,
    )
    control = Celery("quill-harness-control", broker=redis_url)

    replies = control.control.ping(destination=[worker.nodename], timeout=5.0)

    assert replies == [{worker.nodename: {"ok": "pong"}}]


# --- browser --------------------------------------------------------------------------------------


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Quill harness</title></head>"
        "<body><h1 id='title'>Quill — documents</h1><button id='go' onclick=\"this.textContent='clicked'\">"
        "Go</button></body></html>",
        encoding="utf-8",
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_browser_loads_a_local_page_clicks_and_saves_a_screenshot(
    page: Page, screenshot: Callable[..., Path], local_site: str
) -> None:
    page.goto(f"{local_site}/index.html")
    page.click("#go")

    path = screenshot("after-click")

    assert page.title() == "Quill harness"
    assert page.text_content("#go") == "clicked"
    assert page.text_content("#title") == "Quill — documents"
    assert path.parent == REPO_ROOT / "artifacts" / "screenshots"
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 2000


def test_browser_contexts_are_isolated_per_test_first(page: Page, local_site: str) -> None:
    page.goto(f"{local_site}/index.html")
    page.evaluate("localStorage.setItem('quill', 'first-test')")
    page.context.add_cookies([{"name": "sessionid", "value": "abc", "url": local_site}])

    assert page.evaluate("localStorage.getItem('quill')") == "first-test"


def test_browser_contexts_are_isolated_per_test_second(page: Page, local_site: str) -> None:
    page.goto(f"{local_site}/index.html")

    assert page.context.cookies() == []
    assert page.evaluate("localStorage.getItem('quill')") is None


def test_browser_is_debian_chromium(browser: Browser) -> None:
    debian = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=30).stdout

    assert browser.version in debian


def test_django_sync_calls_still_work_while_the_browser_runs(page: Page) -> None:
    from django.utils.asyncio import async_unsafe

    @async_unsafe
    def orm_call() -> str:
        return "ran"

    page.set_content("<p>Playwright's sync API marks an asyncio loop as running</p>")

    assert orm_call() == "ran"
