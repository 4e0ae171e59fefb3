"""Real Celery worker subprocesses for tests (solo pool by default, fault-injectable).

`CeleryWorker(env={...}, queues=["scans"]).start()` returns once the worker
logged "ready."; `queues=None` consumes every queue the app declares (no `-Q`,
as `celery -A quill worker` in production); `kill()` is SIGKILL mid-task for
fault tests; `start()` again reuses the node name and log file; `stop()` is
SIGTERM (warm shutdown), then SIGKILL after the timeout. `pool="prefork",
concurrency=2` runs the pool production runs (the benchmarks use it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.services import REPO_ROOT, ManagedProcess, spawn, wait_until

_READY = re.compile(rb"@\S+ ready\.")


class CeleryWorker(ManagedProcess):
    stop_timeout = 15.0  # warm shutdown finishes the current task first

    """`celery -A <app> worker --pool=<pool>` in its own process group, logging to a file."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        queues: Sequence[str] | None = ("celery",),
        app: str = "quill",
        nodename: str | None = None,
        cwd: Path = REPO_ROOT,
        log_dir: Path | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
        pool: str = "solo",
        concurrency: int = 1,
    ) -> None:
        self.pool = pool
        self.concurrency = concurrency
        self.env = dict(env)
        self.queues = None if queues is None else list(queues)
        self.app = app
        self.nodename = nodename or f"quill-test-{uuid.uuid4().hex[:8]}@localhost"
        self.cwd = cwd
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="quill-celery-"))
        self.log_path = self.log_dir / f"{self.nodename.split('@')[0]}.log"
        self.owned_dir = None if log_dir else self.log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.last_startup_seconds: float | None = None

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "celery",
            "-A", self.app,
            "worker",
            f"--pool={self.pool}",
            f"--concurrency={self.concurrency}",
            *(["-Q", ",".join(self.queues)] if self.queues is not None else []),
            "-n", self.nodename,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l", "info",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> CeleryWorker:
        """Start the worker and wait until it logs that it is ready to consume."""
        if self.is_running:
            return self
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        self._process, self._log_file = spawn(self.argv(), log_path=self.log_path, env=self._env(), cwd=self.cwd)
        try:
            wait_until(
                lambda: self._logged_ready(log_offset),
                timeout=self.startup_timeout,
                service=f"celery worker {self.nodename}",
                what="the worker's 'ready.' log line",
                log_path=self.log_path,
                process=self._process,
            )
        except BaseException:
            self.stop(timeout=5)
            raise
        self.last_startup_seconds = time.monotonic() - started
        return self

    def _env(self) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.env)
        merged["PYTHONUNBUFFERED"] = "1"
        python_path = [str(self.cwd), *filter(None, merged.get("PYTHONPATH", "").split(os.pathsep))]
        merged["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
        return merged

    def _logged_ready(self, offset: int) -> bool:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return _READY.search(handle.read()) is not None
