"""Shared plumbing for Quill's benchmarks: services, a gunicorn server, fixtures, HTTP clients, statistics.

Every benchmark starts what it needs (SeaweedFS, clamd, gunicorn, a Celery worker) with
the classes from ``tests/services`` or a subprocess, talks to it only on 127.0.0.1 and
stops it afterwards. PostgreSQL and Redis are expected to be running; the database is
``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/quill_bench``) and
Redis DB ``BENCH_REDIS_DB`` (default 12).

Benchmarks are not tests: they print figures, ratios against the raw component measured
in the same run, and the target each ratio is held to.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.services.gunicorn import Gunicorn as ServiceGunicorn  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quill_bench")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
MiB = 1024 * 1024
CHUNK = MiB


def base_env(**extra: str) -> dict[str, str]:
    """Settings shared by the bench process and the servers it starts (quill/settings.py names)."""
    env = {
        "DATABASE_URL": DATABASE_URL,
        "QUILL_REDIS_URL": REDIS_URL,
        "QUILL_ENV": "development",
        "DJANGO_DEBUG": "false",
        "QUILL_CELERY_QUEUE": "quill-bench",
        "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_API_THROTTLE_RATE": "1000000/minute",
        "QUILL_SCANNER": "clamd",
        "QUILL_CLAMD_SOCKET": "/nonexistent/clamd.sock",  # no scan unless a bench starts clamd
    }
    env.update(extra)
    return env


def setup_django(env: dict[str, str]) -> None:
    """Create and migrate the bench database if needed, then configure Django in this process."""
    ensure_database(env["DATABASE_URL"])
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
    import django

    django.setup()


def ensure_database(url: str = DATABASE_URL) -> None:
    """Create the bench database if needed and apply migrations (quick when both are done)."""
    from urllib.parse import urlparse

    name = urlparse(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 (our own URL)
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env={**os.environ, **base_env(DATABASE_URL=url)},
        check=True,
    )


# --- fixtures --------------------------------------------------------------------------------------


@dataclass
class Fixture:
    organisation_id: uuid.UUID
    user_id: int
    token: str
    patient_id: uuid.UUID
    admin_token: str = ""


def make_fixture(name: str = "Bench Clinic") -> Fixture:
    """An organisation, a clinician and an administrator with API tokens, and one patient (Django set up)."""
    from apps.accounts.services import api_token_create
    from tests.factories import make_organisation, make_patient, make_user

    organisation = make_organisation(name)
    clinician = make_user(organisation, ["clinician"], email=f"clinician-{uuid.uuid4().hex[:8]}@bench.test")
    admin = make_user(organisation, ["administrator"], email=f"admin-{uuid.uuid4().hex[:8]}@bench.test")
    _, key = api_token_create(user=clinician, name="bench")
    _, admin_key = api_token_create(user=admin, name="bench admin")
    patient = make_patient(organisation)
    return Fixture(organisation.pk, clinician.pk, key, patient.pk, admin_key)


def client_patients(fixture: Fixture, clients: int) -> list[uuid.UUID]:
    """One patient per concurrent client, all in the fixture's organisation (the first is the fixture's)."""
    from apps.patients.models import Patient
    from tests.factories import make_patient

    organisation = Patient.objects.get(pk=fixture.patient_id).organisation
    return [fixture.patient_id] + [make_patient(organisation).pk for _ in range(clients - 1)]


def mark_clean(document_ids: Sequence[str]) -> None:
    """Skip the scan for documents a benchmark only downloads (the scan has its own benchmark)."""
    from apps.documents.models import Document

    Document.objects.filter(pk__in=list(document_ids)).update(scan_status="clean")


# --- files -----------------------------------------------------------------------------------------


def write_dicom(path: Path, size: int) -> Path:
    """A file Quill accepts as DICOM (file meta, then an OB Pixel Data element), the bulk random bytes."""
    import struct

    syntax = b"1.2.840.10008.1.2.1\x00"  # explicit VR little endian, padded to an even length
    meta = struct.pack("<HH2sH", 2, 0x10, b"UI", len(syntax)) + syntax
    head = b"\0" * 128 + b"DICM" + struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(meta)) + meta
    pixels = (size - len(head) - 12) & ~1  # the OB element's 12-byte header; values have even lengths
    head += struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, pixels)
    with open(path, "wb") as sink:
        sink.write(head)
        remaining = pixels
        while remaining > 0:
            n = min(CHUNK, remaining)
            sink.write(os.urandom(n))
            remaining -= n
    return path


def write_pdf(path: Path, size: int) -> Path:
    """A valid one-page PDF of about `size` bytes: the bulk is an image stream of random bytes."""
    overhead = 700
    payload = max(0, size - overhead)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
    ]
    content = b"q 100 0 0 100 50 700 cm /Im1 Do Q"
    with open(path, "wb") as sink:
        offsets = []
        sink.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        for number, body in enumerate(objects, start=1):
            offsets.append(sink.tell())
            sink.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        offsets.append(sink.tell())
        sink.write(b"4 0 obj\n<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream\nendobj\n")
        offsets.append(sink.tell())
        sink.write(
            b"5 0 obj\n<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % payload
        )
        remaining = payload
        while remaining > 0:
            n = min(CHUNK, remaining)
            sink.write(os.urandom(n))
            remaining -= n
        sink.write(b"\nendstream\nendobj\n")
        xref = sink.tell()
        sink.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for offset in offsets:
            sink.write(b"%010d 00000 n \n" % offset)
        sink.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return path


# --- servers ---------------------------------------------------------------------------------------


class Gunicorn(ServiceGunicorn):
    """The tests' gunicorn with a benchmark's defaults: sync workers (one request each), long timeout,
    every worker warmed (imports, database connection) so the first measured request is not a cold start."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 5,
        worker_class: str = "sync",
        threads: int = 1,
        timeout: int = 900,
        app: str = "quill.wsgi:application",
        extra_args: Sequence[str] = (),
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(
            env=env, workers=workers, worker_class=worker_class, threads=threads, timeout=timeout, app=app,
            extra_args=extra_args,
        )  # fmt: skip
        self.root = root  # another checkout (a baseline commit) serves from its own code

    def start(self) -> Gunicorn:
        import tests.services.gunicorn as service

        service.REPO_ROOT, saved = self.root, service.REPO_ROOT  # its cwd and PYTHONPATH
        try:
            super().start()
        finally:
            service.REPO_ROOT = saved
        for _ in range(self.workers * 3):
            self.healthy()
        return self


@contextlib.contextmanager
def seaweed(bucket: str = "quill-bench") -> Iterator:
    from tests.services.seaweedfs import SeaweedS3

    server = SeaweedS3(bucket=bucket)
    server.start()
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def shaped_link(port: int, rate: str) -> Iterator[None]:
    """Limit TCP traffic to and from 127.0.0.1:`port` to `rate` (e.g. "1gbit"), both directions.

    Emulates a store on another machine behind a link of that bandwidth: an HTB class on
    the loopback interface that only the S3 port's packets enter (u32 filters on source
    and destination port); everything else on loopback bypasses it. No delay is added
    (this kernel has no netem). Needs root and `tc`; the qdisc is removed afterwards.
    """
    existing = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True, check=True).stdout
    if "htb" in existing:
        raise RuntimeError(f"loopback already has a shaping qdisc; not touching it:\n{existing}")
    commands = [
        # default 0: unclassified packets are sent unshaped.
        "qdisc add dev lo root handle 1: htb default 0 r2q 1000",
        f"class add dev lo parent 1: classid 1:10 htb rate {rate} burst 512k cburst 512k",
        f"filter add dev lo protocol ip parent 1: prio 1 u32 match ip dport {port} 0xffff flowid 1:10",
        f"filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport {port} 0xffff flowid 1:10",
    ]
    try:
        for command in commands:
            subprocess.run(["tc", *command.split()], check=True, capture_output=True, text=True)
        yield
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)


def s3_client(server, **config):
    """A plain boto3 client as an integrator would write it (keep-alive pool, standard retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=32, **config),
    )


# --- process memory --------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) of a process, from the kernel's own accounting."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux: writing 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- process CPU -----------------------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, parent pid, user + system CPU seconds so far), from /proc/<pid>/stat."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return table


def _role_by_name(name: str, *, parent: int) -> str:
    if name == "weed":
        return "seaweedfs"
    if parent == 2:  # a kernel thread (I/O completion, softirqs, memory): the machine's, not a server's
        return "kernel"
    return name


class CpuMeter:
    """CPU seconds each kind of process used between `start()` and `stop()` (the kernel's accounting).

    `roles` maps a name to root pids: a process counts under the role of its nearest
    listed ancestor (so a gunicorn or Celery worker's children count under it); the
    rest are grouped by command name (postgres, seaweedfs, clamd, redis-server). The
    bench process itself, without the servers it started, is "client". Processes that
    ran only between two snapshots are missed (fine for long-lived servers, which is
    what the meter is for).
    """

    def __init__(self, **roles: int | Sequence[int]) -> None:
        self.roles = {"client": [os.getpid()]}
        for role, pids in roles.items():
            self.roles[role] = [pids] if isinstance(pids, int) else list(pids)
        self._before: dict[int, tuple[str, int, float]] = {}

    def start(self) -> None:
        self._before = _process_table()

    def stop(self) -> dict[str, float]:
        after = _process_table()
        by_pid = {pid: role for role, pids in self.roles.items() for pid in pids}
        seconds: dict[str, float] = {}
        for pid, (name, parent, cpu) in after.items():
            spent = cpu - self._before[pid][2] if pid in self._before else cpu
            if spent <= 0:
                continue
            role, ancestor = None, pid
            for _ in range(32):
                if ancestor in by_pid and (ancestor == pid or by_pid[ancestor] != "client"):
                    role = by_pid[ancestor]
                    break
                if ancestor not in after:
                    break
                ancestor = after[ancestor][1]
            role = role or _role_by_name(name, parent=parent)
            seconds[role] = seconds.get(role, 0.0) + spent
        return seconds


def database_backends() -> list[int]:
    """Pids of the PostgreSQL backends connected to this bench's database (Django set up).

    Counted as the role "database" by ``CpuMeter``, apart from every other ``postgres``
    process on the machine (other people's databases on a shared machine, autovacuum).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [pid for (pid,) in cursor.fetchall()]


def cpu_per_item(seconds: dict[str, float], items: int, *, min_ms: float = 0.5) -> str:
    """'clamd 14.2, worker 6.1, ... ms' per item, largest first, roles under `min_ms` left out."""
    parts = [(1000 * value / items, role) for role, value in seconds.items()]
    shown = [f"{role} {ms:.1f}" for ms, role in sorted(parts, reverse=True) if ms >= min_ms]
    total = sum(ms for ms, _ in parts)
    return f"{', '.join(shown)} (all {total:.1f}) ms CPU"


# --- HTTP clients ----------------------------------------------------------------------------------


class ApiError(RuntimeError):
    pass


def _post_file(
    port: int,
    token: str,
    url: str,
    headers: dict[str, str],
    *,
    path: Path,
    data: bytes | None = None,
    before: bytes = b"",
    after: bytes = b"",
) -> dict:
    """POST `before` + the file (streamed from disk, or `data`) + `after`; the 201 body as JSON."""
    size = len(data) if data is not None else path.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.putrequest("POST", url)
        conn.putheader("Authorization", f"Token {token}")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(before) + size + len(after)))
        conn.endheaders()
        conn.send(before)
        if data is not None:
            conn.send(data)
        else:
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK):
                    conn.send(chunk)
        conn.send(after)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 201:
        raise ApiError(f"POST {url.split('?')[0]} answered {response.status}: {body[:500]!r}")
    return json.loads(body)


def api_upload(
    port: int,
    token: str,
    path: Path,
    *,
    patient_id: uuid.UUID,
    filename: str,
    category: str = "imaging",
    data: bytes | None = None,
) -> dict:
    """POST /api/documents/ as multipart, streaming the file from disk (or `data`) without building the body."""
    boundary = "quillbench" + secrets.token_hex(12)
    fields = {"patient_id": str(patient_id), "category": category}
    pre = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    pre += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return _post_file(
        port,
        token,
        "/api/documents/",
        headers,
        path=path,
        data=data,
        before=pre,
        after=f"\r\n--{boundary}--\r\n".encode(),
    )


def file_digest(path: Path) -> str:
    """The file's SHA-256 as an RFC 9530 ``Repr-Digest`` value."""
    import base64
    import hashlib

    with open(path, "rb") as source:
        digest = hashlib.file_digest(source, "sha256").digest()
    return f"sha-256=:{base64.b64encode(digest).decode()}:"


def api_upload_direct(
    port: int,
    token: str,
    path: Path,
    *,
    patient_id: uuid.UUID,
    filename: str,
    category: str = "imaging",
    repr_digest: str = "",
) -> dict:
    """POST /api/documents/upload/ with the file as the body (and ``Repr-Digest`` when given), streamed from disk."""
    from urllib.parse import urlencode

    query = urlencode({"patient_id": str(patient_id), "category": category, "filename": filename})
    headers = {"Content-Type": "application/octet-stream"}
    if repr_digest:
        headers["Repr-Digest"] = repr_digest
    return _post_file(port, token, f"/api/documents/upload/?{query}", headers, path=path)


def api_download(port: int, token: str, document_id: str, *, expect: int) -> int:
    """GET /api/documents/{id}/content, reading in 1 MiB pieces and dropping them; returns bytes read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.request("GET", f"/api/documents/{document_id}/content", headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise ApiError(f"download answered {response.status}: {response.read()[:500]!r}")
        total = 0
        while chunk := response.read(CHUNK):
            total += len(chunk)
    finally:
        conn.close()
    if total != expect:
        raise ApiError(f"download returned {total} bytes, expected {expect}")
    return total


def api_get(port: int, token: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- statistics and output -------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 200 samples is the 190th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[object]] = field(default_factory=list)

    def add(self, *row: object) -> None:
        self.rows.append(row)

    def render(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[_cell(c) for c in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [self.title, "-" * len(self.title)]
        for index, row in enumerate(cells):
            lines.append("  ".join(text.rjust(widths[i]) if i else text.ljust(widths[i]) for i, text in enumerate(row)))
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def print(self) -> None:
        print("\n" + self.render() + "\n", flush=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def verdict(ratio: float, target: float, *, at_most: bool = True) -> str:
    ok = ratio <= target if at_most else ratio >= target
    return ("ok" if ok else "MISS") + f" ({'<=' if at_most else '>='} {target})"


def machine() -> str:
    import platform

    cores = os.cpu_count()
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    load = os.getloadavg()[0]
    return f"{platform.node()}: {cores} cores, {mem} GiB, Python {platform.python_version()}, load {load:.2f} at start"
