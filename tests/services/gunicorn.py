"""`gunicorn quill.wsgi` on a free loopback port, for fault tests and benchmarks.

`Gunicorn(env={...}, workers=2).start()` returns once `/healthz` answers 200 and
every worker is up; `close()` (or leaving its `with` block) stops the process
group, gives the port back and removes the log folder (kept with
`QUILL_KEEP_LOGS=1`). Fault tests use threaded workers like production
(`worker_class="gthread"`); benchmarks use sync workers, one request each.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.services import REPO_ROOT, ManagedProcess, spawn, wait_until
from tests.services.ports import free_port, release_ports


class Gunicorn(ManagedProcess):
    stop_timeout = 15.0

    def __init__(
        self,
        *,
        env: dict[str, str],
        workers: int = 2,
        worker_class: str = "gthread",
        threads: int = 4,
        timeout: int = 60,
        app: str = "quill.wsgi:application",
        extra_args: Sequence[str] = (),
        ready_timeout: float = 90,  # a busy 2-core machine can take this long to boot the workers
    ) -> None:
        self.env = env
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.timeout = timeout
        self.app = app
        self.extra_args = list(extra_args)
        self.ready_timeout = ready_timeout
        self.port = free_port()
        self.owned_dir = Path(tempfile.mkdtemp(prefix="quill-gunicorn-"))
        self.log_path = self.owned_dir / "gunicorn.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        argv = [
            sys.executable, "-m", "gunicorn", self.app,
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", self.worker_class,
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            "--timeout", str(self.timeout),
            "--graceful-timeout", "5",
            "--worker-tmp-dir", str(self.owned_dir),
            "--error-logfile", "-",
            "--log-level", "warning",
            "--no-control-socket",  # its default path is shared by every gunicorn on the machine
            "--preload",  # import Django once, then fork: much faster to boot several workers
            *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT)}
        self._process, self._log_file = spawn(argv, log_path=self.log_path, env=env, cwd=REPO_ROOT)
        wait_until(
            lambda: self.healthy() and len(self.worker_pids()) == self.workers,
            timeout=self.ready_timeout,
            service="gunicorn",
            what=f"/healthz on {self.base_url}",
            log_path=self.log_path,
            process=self._process,
        )
        return self

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        if self.pid is None:
            return []
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        return [int(pid) for pid in children]

    def _on_close(self) -> None:
        release_ports([self.port])
        if os.environ.get("QUILL_KEEP_LOGS"):
            print(f"gunicorn log kept: {self.log_path}")
            self.owned_dir = None
