"""Real services for Quill's tests: SeaweedFS S3, clamd, Celery workers, Chromium.

Each service runs as a child process in its own process group, binds only
127.0.0.1 (or a unix socket in its own temp dir), logs to a file, and is
waited for with a bounded timeout. Failures raise `ServiceError` carrying the
last lines of the service's log. The helpers below are shared by the service
modules; tests use the classes and the fixtures in `tests.services.plugin`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 40

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A test service failed to start, answer or stop; the message ends with its log tail."""

    def __init__(self, message: str, *, service: str, log_path: Path | None = None) -> None:
        self.service = service
        self.log_path = log_path
        tail = log_tail(log_path) if log_path else ""
        detail = f"\n--- last lines of {log_path} ---\n{tail}" if log_path else ""
        super().__init__(f"{service}: {message}{detail}")


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file, or a note that it is missing."""
    if path is None or not path.exists():
        return f"(no log at {path})"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test process dies, so no service outlives a crashed run."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except OSError:
        pass


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start `argv` in a new process group, stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    log_file.write(f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
    log_file.flush()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    return process, log_file


def terminate_group(
    process: subprocess.Popen[bytes],
    *,
    timeout: float,
    sig: int = signal.SIGTERM,
    log_file: IO[bytes] | None = None,
) -> bool:
    """Send `sig` to the process group, wait up to `timeout`, then SIGKILL the group and reap.

    Returns True if the process exited within `timeout`; otherwise notes the kill in `log_file`.
    """
    exited = True
    if process.poll() is None:
        _signal_group(process, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exited = False
            if log_file is not None and not log_file.closed:
                log_file.write(f"\n=== still running {timeout:.0f}s after signal {sig}: SIGKILL\n".encode())
                log_file.flush()
    # Kill anything left in the group (the leader may have exited before its children).
    _signal_group(process, signal.SIGKILL)
    process.wait(timeout=10)
    return exited


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    service: str,
    what: str,
    log_path: Path | None,
    process: subprocess.Popen[bytes] | None = None,
    interval: float = 0.1,
) -> float:
    """Poll `check` until it returns True; returns the seconds waited.

    Raises `ServiceError` with the log tail when `timeout` passes or `process`
    exits first. Exceptions from `check` count as "not yet" (the last one is
    reported on failure), except `ServiceError`, which `check` raises to fail fast.
    """
    started = time.monotonic()
    deadline = started + timeout
    last_error: BaseException | None = None
    while True:
        if process is not None and process.poll() is not None:
            raise ServiceError(
                f"exited with code {process.returncode} while waiting for {what}",
                service=service,
                log_path=log_path,
            )
        try:
            if check():
                return time.monotonic() - started
        except ServiceError:
            raise
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            reason = f" (last error: {last_error!r})" if last_error else ""
            raise ServiceError(f"{what} not ready within {timeout:.0f}s{reason}", service=service, log_path=log_path)
        time.sleep(interval)


class ManagedProcess:
    """The lifecycle every test service shares: one process group, its log file, a temp folder.

    Subclasses implement `start()` (setting `_process` and `_log_file`) and may
    override `_after_stop()` and `_on_close()`; `owned_dir` is removed by `close()`.
    """

    stop_timeout: float = 10.0
    _process: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None
    owned_dir: Path | None = None

    def start(self) -> Self:
        raise NotImplementedError

    @property
    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, *, timeout: float | None = None) -> None:
        """SIGTERM the process group, wait, SIGKILL after the timeout; `start()` can follow."""
        if self._process is not None:
            terminate_group(self._process, timeout=timeout or self.stop_timeout, log_file=self._log_file)
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._after_stop()

    def kill(self) -> None:
        """SIGKILL at once, as in a crash."""
        if self._process is not None:
            terminate_group(self._process, timeout=5, sig=signal.SIGKILL)
        self.stop()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop for good and delete the temp folder this object made."""
        self.stop()
        self._on_close()
        if self.owned_dir is not None:
            shutil.rmtree(self.owned_dir, ignore_errors=True)

    def _after_stop(self) -> None:
        """Clean-up after each stop (e.g. stale sockets)."""

    def _on_close(self) -> None:
        """Clean-up once, when closed (e.g. releasing reserved ports)."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
