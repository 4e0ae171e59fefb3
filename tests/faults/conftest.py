"""Fixtures for the fault tests: gunicorn on the test database, a private Redis that can be
stopped without disturbing anyone else, and a TCP relay that can slow a connection down or
take a service "off the network" while it keeps its port.

Everything binds 127.0.0.1 on ports reserved through tests.services.ports, runs in its own
process group (killed if this process dies) and is stopped after the test.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import redis as redis_client
from django.conf import settings as django_settings

from tests.services import spawn, terminate_group, wait_until
from tests.services.gunicorn import Gunicorn
from tests.services.ports import free_port, release_ports


def subprocess_database_url() -> str:
    """The pytest-django test database, as a URL for subprocesses (gunicorn, workers)."""
    database = django_settings.DATABASES["default"]
    user = database["USER"] or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail the test with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(interval)


def quill_env(**overrides: str) -> dict[str, str]:
    """Environment for a Quill subprocess on the test database (storage, scanner, broker added by callers)."""
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "QUILL_ENV": "development",
        "QUILL_CELERY_EAGER": "false",
        "QUILL_LOG_FORMAT": "text",
        "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_DB_CONN_MAX_AGE": "0",
    }
    env.update(overrides)
    return env


def filesystem_env(files_dir: Path) -> dict[str, str]:
    return {"QUILL_STORAGE": "filesystem", "QUILL_FILES_DIR": str(files_dir)}


def broker_env(url: str) -> dict[str, str]:
    return {"QUILL_REDIS_URL": url, "CELERY_BROKER_URL": url}


# --- gunicorn --------------------------------------------------------------------------------------


@pytest.fixture
def gunicorn_factory() -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn servers for this test: `gunicorn_factory(env=quill_env(...))`; stopped afterwards."""
    servers: list[Gunicorn] = []

    def start(**kwargs: Any) -> Gunicorn:
        server = Gunicorn(**kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.close()


# --- a private Redis -----------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on its own port, no persistence: stopping it loses whatever was queued, as a crash would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_dir = Path(tempfile.mkdtemp(prefix="quill-redis-"))
        self.log_path = self.base_dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", str(self.base_dir)]  # fmt: skip
        self._process, self._log_file = spawn(argv, log_path=self.log_path)
        wait_until(
            lambda: self.client().ping(),
            timeout=10,
            service="redis",
            what=f"PING on {self.url}",
            log_path=self.log_path,
            process=self._process,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            terminate_group(self._process, timeout=5, sig=signal.SIGKILL, log_file=self._log_file)
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def close(self) -> None:
        self.stop()
        release_ports([self.port])
        shutil.rmtree(self.base_dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.close()


# --- a TCP relay -------------------------------------------------------------------------------------


@dataclass
class RelayedConnection:
    bytes_from_client: int = 0
    bytes_to_client: int = 0
    client_closed_first: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class TcpRelay:
    """Listens on a fixed loopback port and relays to a unix socket or a TCP address.

    `throttle` (bytes a second, client to service) makes a transfer slow enough to interrupt;
    `down()` closes the port (connections are refused, as with a stopped service) and
    `up()` opens the same port again.
    """

    def __init__(self, target: str | tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.throttle: int | None = None
        self.connections: list[RelayedConnection] = []
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def up(self) -> TcpRelay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A small receive window (inherited by accepted sockets) keeps little data in flight.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        listener.bind(self.address)
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self._stopping.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open connection."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self.down()
        release_ports([self.port])

    def _connect_target(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target, timeout=5)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = self._connect_target()
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            connection = RelayedConnection()
            with self._lock:
                self.connections.append(connection)
                self._sockets.extend([client, upstream])
            threading.Thread(target=self._pump_up, args=(client, upstream, connection), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, connection), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket, connection: RelayedConnection) -> None:
        try:
            while True:
                throttle = self.throttle
                data = client.recv(min(16384, throttle // 4) if throttle else 65536)
                if not data:
                    connection.client_closed_first = connection.bytes_to_client == 0
                    upstream.shutdown(socket.SHUT_WR)
                    return
                if throttle:
                    time.sleep(len(data) / throttle)
                upstream.sendall(data)
                connection.bytes_from_client += len(data)
        except OSError:
            connection.client_closed_first = connection.bytes_to_client == 0
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()

    def _pump_down(self, upstream: socket.socket, client: socket.socket, connection: RelayedConnection) -> None:
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
                connection.bytes_to_client += len(data)
        except OSError:
            pass
        finally:
            connection.done.set()
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def relay_factory() -> Iterator[Callable[[str | tuple[str, int]], TcpRelay]]:
    relays: list[TcpRelay] = []

    def start(target: str | tuple[str, int]) -> TcpRelay:
        relay = TcpRelay(target)
        relays.append(relay)
        return relay.up()

    yield start
    for relay in relays:
        relay.close()
