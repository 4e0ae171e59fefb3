"""A private PostgreSQL cluster that speaks only TLS and logs users in by client certificate.

Started from Debian's binaries (`initdb`, `postgres` from the newest /usr/lib/postgresql/*/bin)
in a temp folder, on a reserved loopback port, with `ssl=on` and a pg_hba.conf that has
`hostssl ... cert` and nothing else for TCP: a plaintext connection, or one without a
client certificate the test CA signed for the user's name, is refused. Setup goes through
the cluster's own unix socket (trust). PostgreSQL refuses to run as root, so under root
the binaries run as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.services import ManagedProcess, ServiceError, spawn, wait_until
from tests.services.ports import free_ports, release_ports
from tests.services.tls import CLIENT_NAME, TestPki

DATABASE = "quill"


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if not found:
        raise ServiceError("no /usr/lib/postgresql/*/bin/initdb (Debian's postgresql package)", service="postgres")
    return Path(found[-1]).parent


class PostgresTls(ManagedProcess):
    stop_timeout = 10.0

    def __init__(self, pki: TestPki) -> None:
        self.pki = pki
        self.base_dir = Path(tempfile.mkdtemp(prefix="quill-pg-tls-"))
        self.owned_dir = self.base_dir
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        (self.port,) = free_ports(1)
        self._as_postgres = os.geteuid() == 0
        self._closed = False

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> PostgresTls:
        if self.is_running:
            return self
        binaries = postgres_bin()
        if not self.data_dir.exists():
            self._init_cluster(binaries)
        self._process, self._log_file = spawn(
            self._run_as([str(binaries / "postgres"), "-D", str(self.data_dir)]), log_path=self.log_path
        )
        wait_until(
            self._answers,
            timeout=30,
            service="postgres",
            what=f"PostgreSQL on {self.base_dir}",
            log_path=self.log_path,
            process=self._process,
        )
        self._create_user_and_database()
        return self

    def _on_close(self) -> None:
        if not self._closed:
            release_ports([self.port])
            self._closed = True

    # --- internals ---------------------------------------------------------------------

    def _run_as(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else argv

    def _init_cluster(self, binaries: Path) -> None:
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            self._run_as(
                [str(binaries / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr[-2000:]}", service="postgres")
        for source, name in (
            (self.pki.server_cert, "server.crt"),
            (self.pki.server_key, "server.key"),
            (self.pki.ca_file, "ca.pem"),
        ):
            target = self.data_dir / name
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
            if self._as_postgres:
                os.chown(target, user.pw_uid, user.pw_gid)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '{self.host}'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.base_dir}'\n"
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.pem'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 16MB\nmax_connections = 20\n"
            )
        # TLS with a client certificate naming the user, or nothing; setup over the unix socket.
        (self.data_dir / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 cert\n")

    def reload(self) -> None:
        """Re-read the configuration and the certificate files (as `pg_ctl reload`)."""
        with self._admin() as connection:
            connection.execute("SELECT pg_reload_conf()")

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.base_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
        )

    def _answers(self) -> bool:
        with self._admin() as connection:
            connection.execute("SELECT 1")
        return True

    def _create_user_and_database(self) -> None:
        with self._admin() as connection:
            if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [CLIENT_NAME]).fetchone():
                connection.execute(f'CREATE ROLE "{CLIENT_NAME}" LOGIN')
            if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
                connection.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{CLIENT_NAME}"')
