"""SeaweedFS as a real cluster from the `weed` binary: 1 master, N volume servers, a filer with its S3 gateway.

Every part is its own process (and process group) on 127.0.0.1, so a test or the scale-out
drill can SIGKILL one volume server and start it again with its data. Volumes are written
with replication `001` by default: each object on two volume servers of the same rack, so
one volume server can die without losing or hiding an object. SSE-S3 works as in
production: the filer's S3 gateway is given the key-encryption key as WEED_S3_SSE_KEK.

    with SeaweedCluster(volume_servers=3) as cluster:
        cluster.settings_env()          # Quill's QUILL_S3_* settings for it
        cluster.volumes[1].kill(); cluster.volumes[1].start()
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.services import ManagedProcess, ServiceError, spawn, wait_until
from tests.services.ports import SEAWEEDFS_GRPC_OFFSET, free_ports, release_ports
from tests.services.seaweedfs import weed_binary

_OFFSETS = (0, SEAWEEDFS_GRPC_OFFSET)  # weed's gRPC port is its HTTP port + 10000


class WeedProcess(ManagedProcess):
    """One `weed <role>` process: started, waited for with `ready`, killed and restarted by the caller."""

    stop_timeout = 5.0  # weed's shutdown now and then hangs; acknowledged writes are on disk

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready: Callable[[], bool],
        startup_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.ready = ready
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> WeedProcess:
        if self.is_running:
            return self
        self._process, self._log_file = spawn(self.argv, log_path=self.log_path, env=self.env)
        try:
            wait_until(
                self.ready,
                timeout=self.startup_timeout,
                service=f"seaweedfs {self.name}",
                what=f"{self.name} to answer",
                log_path=self.log_path,
                process=self._process,
                interval=0.2,
            )
        except BaseException:
            self.stop()
            raise
        return self


class SeaweedCluster:
    """A master, `volume_servers` volume servers and a filer with the S3 gateway, each a process."""

    def __init__(
        self,
        *,
        volume_servers: int = 3,
        replication: str = "001",
        bucket: str = "quill-cluster",
        access_key: str = "quill-cluster-access-key",
        secret_key: str | None = None,
        region: str = "us-east-1",
        sse_kek: str | None = None,
        volume_size_limit_mb: int = 64,
        base_dir: Path | None = None,
    ) -> None:
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.region = region
        self.replication = replication
        self.sse_kek = sse_kek or secrets.token_hex(32)
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="quill-weed-cluster-"))
        self._owns_dir = base_dir is None
        ports = free_ports(3 + volume_servers, offsets=_OFFSETS)
        self._ports = ports
        self.master_port, self.filer_port, self.s3_port = ports[:3]
        self.volume_ports = ports[3:]
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.base_dir),
            "TMPDIR": str(self.base_dir),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        weed = weed_binary()
        self.master = WeedProcess(
            "master",
            [
                weed,
                "master",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={self.master_port}",
                f"-mdir={self._dir('master')}",
                f"-defaultReplication={replication}",
                f"-volumeSizeLimitMB={volume_size_limit_mb}",
                "-telemetry=false",
            ],
            env=self.env,
            log_path=self.base_dir / "master.log",
            ready=self._master_ready,
        )
        self.volumes = [
            WeedProcess(
                f"volume-{number}",
                [
                    weed,
                    "volume",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    f"-port={port}",
                    f"-dir={self._dir(f'volume-{number}')}",
                    "-max=16",
                    f"-master=127.0.0.1:{self.master_port}",
                    "-dataCenter=dc1",
                    "-rack=rack1",
                    "-preStopSeconds=0",
                ],
                env=self.env,
                log_path=self.base_dir / f"volume-{number}.log",
                ready=self._volume_ready(port),
            )
            for number, port in enumerate(self.volume_ports)
        ]
        self.filer = WeedProcess(
            "filer",
            [
                weed,
                "filer",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={self.filer_port}",
                f"-master=127.0.0.1:{self.master_port}",
                f"-defaultStoreDir={self._dir('filer')}",
                f"-defaultReplicaPlacement={replication}",
                f"-localSocket={self.base_dir / 'filer.sock'}",
                "-s3",
                f"-s3.port={self.s3_port}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.localSocket={self.base_dir / 's3.sock'}",
                "-s3.allowDeleteBucketNotEmpty=false",
            ],
            env={**self.env, "WEED_S3_SSE_KEK": self.sse_kek},
            log_path=self.base_dir / "filer.log",
            ready=self._s3_ready,
        )

    # --- what callers use -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self, **overrides: Any) -> BaseClient:
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
            ),
        }
        options.update(overrides)
        return boto3.client("s3", **options)

    def settings_env(self) -> dict[str, str]:
        """Quill's S3 settings (quill/settings.py names) for this cluster."""
        return {
            "QUILL_STORAGE": "s3",
            "QUILL_S3_BUCKET": self.bucket,
            "QUILL_S3_ENDPOINT_URL": self.endpoint_url,
            "QUILL_S3_REGION": self.region,
            "QUILL_S3_ACCESS_KEY_ID": self.access_key,
            "QUILL_S3_SECRET_ACCESS_KEY": self.secret_key,
            "QUILL_S3_ADDRESSING_STYLE": "path",
        }

    def live_volume_servers(self) -> int:
        """How many volume servers the master currently counts."""
        return len(self._data_nodes())

    def wait_for_volume_servers(self, timeout: float = 60.0) -> None:
        """Until the master counts every volume server (after a start or a restart)."""
        wait_until(
            lambda: self.live_volume_servers() == len(self.volumes),
            timeout=timeout,
            service="seaweedfs master",
            what=f"all {len(self.volumes)} volume servers to register",
            log_path=self.master.log_path,
        )

    def start(self) -> SeaweedCluster:
        try:
            self.master.start()
            for volume in self.volumes:
                volume.start()
            self.wait_for_volume_servers()
            self.filer.start()
            self._ensure_bucket()
            wait_until(
                self._write_round_trip,
                timeout=60,
                service="seaweedfs filer",
                what=f"a write to bucket {self.bucket!r}",
                log_path=self.filer.log_path,
            )
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        # All at once: each may take its stop timeout (weed's shutdown now and then hangs).
        with ThreadPoolExecutor(max_workers=len(self.volumes) + 2) as pool:
            list(pool.map(lambda process: process.stop(), [self.filer, *self.volumes, self.master]))
        release_ports(self._ports, offsets=_OFFSETS)
        self._ports = []
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> SeaweedCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        path = self.base_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _get_json(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def _master_ready(self) -> bool:
        return bool(self._get_json(f"http://127.0.0.1:{self.master_port}/cluster/status").get("IsLeader"))

    def _data_nodes(self) -> list[dict[str, Any]]:
        topology = self._get_json(f"http://127.0.0.1:{self.master_port}/dir/status")["Topology"]
        return [
            node
            for center in topology.get("DataCenters") or []
            for rack in center.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]

    def _volume_ready(self, port: int) -> Callable[[], bool]:
        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
                return response.status == 200

        return ready

    def _s3_ready(self) -> bool:
        log = self.filer.log_path.read_bytes()
        if b"Port allocation failed" in log:
            raise ServiceError("a port is taken", service="seaweedfs filer", log_path=self.filer.log_path)
        self.client().list_buckets()
        return True

    def _ensure_bucket(self) -> None:
        client = self.client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError:
            client.create_bucket(Bucket=self.bucket)

    def _write_round_trip(self) -> bool:
        client = self.client()
        client.put_object(Bucket=self.bucket, Key=".quill-cluster-readiness", Body=b"ok")
        client.delete_object(Bucket=self.bucket, Key=".quill-cluster-readiness")
        return True
