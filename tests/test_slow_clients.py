"""Slow clients against gunicorn (the test harness's, as the `web` service runs it, without the proxy).

A body that stops arriving is answered 408 once QUILL_CLIENT_BODY_TIMEOUT_SECONDS pass, and the
thread it held serves others again. The proxy's own timeouts are in docker/nginx/quill.conf
(checked below; nginx does not run on these machines).
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.services.gunicorn import Gunicorn

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "docker" / "nginx" / "quill.conf"
CSRF_COOKIE = "a" * 32  # any well-formed cookie: the CSRF check then reads the form body


def _database_url() -> str:
    database = django_settings.DATABASES["default"]
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return f"postgres://{database['USER'] or 'postgres'}@{host}:{port}/{database['NAME']}"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """gunicorn with one process of two threads, waiting at most one second for a body."""
    env = {
        "DATABASE_URL": _database_url(),
        "QUILL_ENV": "development",
        "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_CLIENT_BODY_TIMEOUT_SECONDS": "1",
    }
    with django_db_blocker.unblock(), Gunicorn(env=env, workers=1, threads=2) as gunicorn:
        yield gunicorn


def _start_slow_post(server: Gunicorn) -> socket.socket:
    """A form POST that announces 1,000 bytes of body, sends ten, and stops."""
    client = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    client.sendall(
        (
            "POST /accounts/sign-in/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Cookie: csrftoken={CSRF_COOKIE}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n\r\n"
            "username=a"
        ).encode("ascii")
    )
    return client


def _answer(client: socket.socket) -> tuple[int, bytes]:
    received = b""
    while b"\r\n\r\n" not in received or len(received.split(b"\r\n\r\n", 1)[1]) < _length(received):
        chunk = client.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _length(received: bytes) -> int:
    match = re.search(rb"(?im)^content-length:\s*(\d+)", received.split(b"\r\n\r\n", 1)[0])
    return int(match.group(1)) if match else 0


@pytest.mark.slow
def test_a_body_that_stops_arriving_is_cut_off_and_frees_its_thread(server):
    # given both of the server's threads held by clients that stopped sending their bodies
    stalled = [_start_slow_post(server), _start_slow_post(server)]
    try:
        # when another client asks for something (it waits for a thread; 30 s would mean "never")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as other:
            other.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode("ascii"))
            # then it is served, because the stalled bodies were cut off
            assert _answer(other)[0] == 200
        # and each stalled client was told why
        for client in stalled:
            status, body = _answer(client)
            assert status == 408
            assert json.loads(body)["detail"]["error_code"] == "request_timeout"
    finally:
        for client in stalled:
            client.close()


def _nginx_seconds(directive: str) -> int:
    match = re.search(rf"^\s*{directive}\s+(\d+)s;", NGINX_CONF.read_text(), re.MULTILINE)
    assert match, f"{directive} is not set in {NGINX_CONF.name}"
    return int(match.group(1))


def test_the_proxy_limits_slow_headers_and_bodies_and_buffers_whole_requests():
    assert _nginx_seconds("client_header_timeout") <= 15
    assert _nginx_seconds("client_body_timeout") <= 30
    assert re.search(r"^\s*proxy_request_buffering on;", NGINX_CONF.read_text(), re.MULTILINE)
