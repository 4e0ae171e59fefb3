"""A real clamd for tests, with Quill's own tiny signature database (no freshclam, no download).

The database holds two signatures: the EICAR test file (an `.hdb` hash of its
exact 68 bytes) and a body signature (`.ndb`, any file type, any offset) that
matches wherever `QUILL_TEST_MALWARE` appears in a file. clamd reports
signatures from unsigned databases with a `.UNOFFICIAL` suffix; the exported
`*_SIGNATURE` names are what `INSTREAM` answers.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import clamd as clamd_client

from tests.services import ManagedProcess, ServiceError, spawn, wait_until

CLAMD_BINARY = "/usr/sbin/clamd"

# The standard antivirus test file; detected only as these exact bytes (hash signature).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# Quill's own test "malware": any file containing these bytes anywhere is infected.
QUILL_TEST_MALWARE = b"QUILL-TEST-MALWARE-7c1e52b9-this-file-must-be-quarantined"

EICAR_SIGNATURE_BASE = "Quill.Test.EICAR"
QUILL_TEST_MALWARE_SIGNATURE_BASE = "Quill.Test.Marker"
EICAR_SIGNATURE = f"{EICAR_SIGNATURE_BASE}.UNOFFICIAL"
QUILL_TEST_MALWARE_SIGNATURE = f"{QUILL_TEST_MALWARE_SIGNATURE_BASE}.UNOFFICIAL"

STREAM_MAX_BYTES = 256 * 1024 * 1024


def write_signature_database(directory: Path) -> None:
    """Write the two test signatures into `directory` (a clamd DatabaseDirectory)."""
    directory.mkdir(parents=True, exist_ok=True)
    eicar_md5 = hashlib.md5(EICAR).hexdigest()
    (directory / "quill-test.hdb").write_text(f"{eicar_md5}:{len(EICAR)}:{EICAR_SIGNATURE_BASE}\n")
    # .ndb: Name:TargetType:Offset:HexSignature; target 0 = any file, offset * = anywhere.
    (directory / "quill-test.ndb").write_text(f"{QUILL_TEST_MALWARE_SIGNATURE_BASE}:0:*:{QUILL_TEST_MALWARE.hex()}\n")


class Clamd(ManagedProcess):
    """One clamd process listening only on a unix socket in its own temp directory."""

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        extra_databases: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        """`extra_databases` maps file names (e.g. "more.ndb") to extra signature lines for this clamd."""
        self.extra_databases = dict(extra_databases or {})
        self.startup_timeout = startup_timeout
        # Unix socket paths are limited to 107 bytes, so keep the directory short.
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="quill-clamd-"))
        self.database_dir = self.base_dir / "db"
        self.socket_path = str(self.base_dir / "clamd.sock")
        self.config_path = self.base_dir / "clamd.conf"
        self.log_path = self.base_dir / "clamd.log"
        self.owned_dir = None if base_dir else self.base_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.last_startup_seconds: float | None = None

    def client(self, *, timeout: float | None = 30.0) -> clamd_client.ClamdUnixSocket:
        return clamd_client.ClamdUnixSocket(path=self.socket_path, timeout=timeout)

    def settings_env(self) -> dict[str, str]:
        """Quill's scanner settings (quill/settings.py names) pointing at this clamd."""
        return {"QUILL_SCANNER": "clamd", "QUILL_CLAMD_SOCKET": self.socket_path}

    def start(self) -> Clamd:
        """Write the config and signatures, start clamd in the foreground, wait for PONG."""
        if self.is_running:
            return self
        if not Path(CLAMD_BINARY).exists():
            raise ServiceError(f"{CLAMD_BINARY} missing: run scripts/install-test-deps.sh", service="clamd")
        write_signature_database(self.database_dir)
        for name, content in self.extra_databases.items():
            (self.database_dir / name).write_text(content)
        self.config_path.write_text(self._config())
        started = time.monotonic()
        self._process, self._log_file = spawn(
            [CLAMD_BINARY, "--config-file", str(self.config_path)],
            log_path=self.log_path,
            env={"PATH": "/usr/sbin:/usr/bin:/bin", "HOME": str(self.base_dir)},
        )
        try:
            wait_until(
                lambda: self.client(timeout=2).ping() == "PONG",
                timeout=self.startup_timeout,
                service="clamd",
                what=f"PING on {self.socket_path}",
                log_path=self.log_path,
                process=self._process,
            )
        except BaseException:
            self.stop()
            raise
        self.last_startup_seconds = time.monotonic() - started
        return self

    def _after_stop(self) -> None:
        # The socket path stays the same for `start()`.
        Path(self.socket_path).unlink(missing_ok=True)

    def _config(self) -> str:
        # No User option: clamd keeps the identity it was started with (root here);
        # no TCPSocket: nothing listens on the network.
        return "\n".join(
            [
                f"LocalSocket {self.socket_path}",
                "LocalSocketMode 600",
                "FixStaleSocket yes",
                "Foreground yes",
                f"DatabaseDirectory {self.database_dir}",
                f"PidFile {self.base_dir / 'clamd.pid'}",
                "LogTime yes",
                "LogSyslog no",
                f"StreamMaxLength {STREAM_MAX_BYTES // (1024 * 1024)}M",
                f"MaxFileSize {STREAM_MAX_BYTES // (1024 * 1024)}M",
                f"MaxScanSize {2 * STREAM_MAX_BYTES // (1024 * 1024)}M",
                "SelfCheck 0",
                "ConcurrentDatabaseReload no",
                "MaxThreads 4",
                "",
            ]
        )
