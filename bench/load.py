"""Concurrent load against a real Quill: gunicorn, PostgreSQL, SeaweedFS S3, a Celery worker with clamd.

    .venv/bin/python bench/load.py [--clients 8] [--duration 60] [--json results.json]

Starts everything it needs (a fresh database on the local PostgreSQL, SeaweedFS, clamd with the
test signatures, a private redis-server, one Celery worker, gunicorn on 127.0.0.1) and stops it
afterwards. Each client is one clinician with an API token, uploading small PDFs and PNGs,
listing and downloading in a loop for the duration. Afterwards it checks: no 5xx; every 201
document is in the database, scanned clean and downloads with the sha256 of the bytes sent;
`manage.py verify_audit` passes. Prints a table of requests by kind with p50/p95/p99 latency,
throughput and errors; exits 1 if any check fails.

tests/faults/test_load.py runs the same driver (`run_load`, `verify_uploads`) for 10 seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Share of each kind of request a client makes; downloads fall back to listing until it has a clean document.
MIX = (("upload", 0.35), ("list", 0.30), ("download", 0.35))
MAX_DURATION_SECONDS = 600


@dataclass
class Sample:
    kind: str
    status: int
    seconds: float
    at: float = 0.0  # when it finished, in seconds since the run started


@dataclass
class Uploaded:
    document_id: str
    sha256: str
    size: int


@dataclass
class LoadResult:
    clients: int
    duration: float
    samples: list[Sample] = field(default_factory=list)
    uploaded: list[Uploaded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def by_kind(self) -> dict[str, list[Sample]]:
        grouped: dict[str, list[Sample]] = defaultdict(list)
        for sample in self.samples:
            grouped[sample.kind].append(sample)
        return grouped

    def server_errors(self) -> int:
        return sum(1 for sample in self.samples if sample.status >= 500 or sample.status == 0)

    def summary(self) -> dict:
        kinds = {}
        for kind, samples in sorted(self.by_kind().items()):
            latencies = sorted(sample.seconds for sample in samples)
            kinds[kind] = {
                "requests": len(samples),
                "statuses": dict(Counter(str(sample.status) for sample in samples)),
                "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
                "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
                "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
            }
        return {
            "clients": self.clients,
            "duration_s": round(self.duration, 1),
            "requests": len(self.samples),
            "throughput_rps": round(len(self.samples) / self.duration, 1) if self.duration else 0.0,
            "server_errors": self.server_errors(),
            "uploaded": len(self.uploaded),
            "kinds": kinds,
            "problems": self.problems,
        }


def _percentile(values: list[float], percent: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(percent) - 1]


# --- what the clients send ---------------------------------------------------------------------------


def small_png(rng: random.Random) -> bytes:
    from PIL import Image

    side = rng.randint(48, 128)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def small_pdf(rng: random.Random) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    document = canvas.Canvas(buffer, pagesize=A4)
    for page in range(rng.randint(1, 3)):
        document.drawString(72, 760, f"Clinic note {uuid.UUID(int=rng.getrandbits(128))} page {page + 1}")
        document.showPage()
    document.save()
    return buffer.getvalue()


@dataclass
class Client:
    """One clinician: an API token and the patient whose documents they work on."""

    token: str
    patient_id: str


def _client_loop(
    number: int,
    client: Client,
    base_url: str,
    deadline: float,
    result: LoadResult,
    lock: threading.Lock,
    run_started: float = 0.0,
) -> None:
    rng = random.Random(number * 7919 + int(time.time()))
    session = requests.Session()
    session.headers["Authorization"] = f"Token {client.token}"
    mine: list[Uploaded] = []
    kinds, weights = zip(*MIX, strict=True)

    def record(kind: str, status: int, started: float) -> None:
        with lock:
            result.samples.append(Sample(kind, status, time.perf_counter() - started, time.monotonic() - run_started))

    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind == "download" and not mine:
            kind = "list"
        started = time.perf_counter()
        try:
            if kind == "upload":
                is_pdf = rng.random() < 0.5
                data = small_pdf(rng) if is_pdf else small_png(rng)
                name = f"note-{number}-{len(mine)}.{'pdf' if is_pdf else 'png'}"
                response = session.post(
                    f"{base_url}/api/documents/",
                    data={"patient_id": client.patient_id, "category": "clinical-note"},
                    files={"file": (name, data)},
                    timeout=60,
                )
                record(kind, response.status_code, started)
                if response.status_code == 201:
                    body = response.json()
                    uploaded = Uploaded(body["id"], hashlib.sha256(data).hexdigest(), len(data))
                    if body.get("sha256") != uploaded.sha256:
                        with lock:
                            result.problems.append(f"upload {body['id']}: server sha256 differs from the bytes sent")
                    mine.append(uploaded)
                    with lock:
                        result.uploaded.append(uploaded)
            elif kind == "list":
                response = session.get(
                    f"{base_url}/api/documents/", params={"patient_id": client.patient_id}, timeout=60
                )
                record(kind, response.status_code, started)
            else:
                target = rng.choice(mine)
                response = session.get(f"{base_url}/api/documents/{target.document_id}/content", timeout=60)
                # 409 = not scanned yet (fail closed): expected while the worker catches up.
                record("download" if response.status_code != 409 else "download-pending", response.status_code, started)
                if response.status_code == 200 and hashlib.sha256(response.content).hexdigest() != target.sha256:
                    with lock:
                        result.problems.append(f"download {target.document_id}: sha256 mismatch")
        except requests.RequestException as error:
            record(kind, 0, started)
            with lock:
                result.problems.append(f"{kind}: {type(error).__name__}: {error}")
    session.close()


def run_load(*, base_url: str | list[str], clients: list[Client], duration: float) -> LoadResult:
    """Run one thread per client for `duration` seconds (bounded by MAX_DURATION_SECONDS).

    With several base URLs (several gunicorn instances) the clients are spread over them in turn,
    as a load balancer would.
    """
    base_urls = [base_url] if isinstance(base_url, str) else list(base_url)
    duration = min(duration, MAX_DURATION_SECONDS)
    result = LoadResult(clients=len(clients), duration=0.0)
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + duration
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(n, c, base_urls[n % len(base_urls)], deadline, result, lock, started),
            daemon=True,
        )
        for n, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 120)
    result.duration = time.monotonic() - started
    if result.server_errors():
        result.problems.append(f"{result.server_errors()} server errors (5xx or no answer)")
    return result


def verify_uploads(result: LoadResult, *, base_url: str, clients: list[Client], scan_timeout: float = 120.0) -> None:
    """Every 201 document: a row, scanned clean (waits up to `scan_timeout`), downloads with its sha256."""
    from apps.documents.models import Document, ScanStatus

    expected = {item.document_id: item for item in result.uploaded}
    deadline = time.monotonic() + scan_timeout
    while time.monotonic() < deadline:
        if Document.objects.filter(pk__in=expected, scan_status=ScanStatus.CLEAN).count() == len(expected):
            break
        time.sleep(0.5)
    rows = {str(row.pk): row for row in Document.objects.filter(pk__in=expected)}
    session = requests.Session()
    session.headers["Authorization"] = f"Token {clients[0].token}"
    for document_id, item in expected.items():
        row = rows.get(document_id)
        if row is None:
            result.problems.append(f"{document_id}: answered 201 but has no row")
            continue
        if row.sha256 != item.sha256 or row.size != item.size:
            result.problems.append(f"{document_id}: row sha256/size differ from the bytes sent")
        if row.scan_status != ScanStatus.CLEAN:
            result.problems.append(f"{document_id}: still {row.scan_status} after {scan_timeout:.0f}s")
            continue
        response = session.get(f"{base_url}/api/documents/{document_id}/content", timeout=60)
        if response.status_code != 200:
            result.problems.append(f"{document_id}: download answered {response.status_code}")
        elif hashlib.sha256(response.content).hexdigest() != item.sha256:
            result.problems.append(f"{document_id}: downloaded bytes differ from the upload")
    session.close()


def make_clients(count: int) -> list[Client]:
    """One organisation, `count` clinicians each with a token and a patient (through the real services)."""
    from apps.accounts.models import Organisation, User
    from apps.accounts.services import api_token_create
    from apps.patients.models import Patient

    organisation = Organisation.objects.create(name=f"Load test clinic {uuid.uuid4().hex[:6]}")
    clients = []
    for number in range(count):
        user = User.objects.create_user(
            email=f"load{number}-{uuid.uuid4().hex[:6]}@example.test",
            password=uuid.uuid4().hex,
            full_name=f"Load Clinician {number}",
            organisation=organisation,
            roles=["clinician"],
        )
        patient = Patient.objects.create(
            organisation=organisation,
            given_name=f"Load{number}",
            family_name="Example",
            date_of_birth="1980-01-01",
            mrn=f"LOAD{number:04d}{uuid.uuid4().hex[:4]}",
            sex="unknown",
        )
        clients.append(Client(token=api_token_create(user=user, name="load test")[1], patient_id=str(patient.pk)))
    return clients


def format_table(summary: dict) -> str:
    lines = [
        f"{summary['clients']} clients, {summary['duration_s']} s, {summary['requests']} requests, "
        f"{summary['throughput_rps']} req/s, {summary['server_errors']} server errors, "
        f"{summary['uploaded']} documents uploaded",
        "",
        f"{'kind':<18}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses",
    ]
    for kind, row in summary["kinds"].items():
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(row["statuses"].items()))
        lines.append(
            f"{kind:<18}{row['requests']:>9}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}  {statuses}"
        )
    lines.append("")
    lines.append("checks: " + ("all passed" if not summary["problems"] else f"{len(summary['problems'])} problems"))
    lines.extend(f"  - {problem}" for problem in summary["problems"][:20])
    return "\n".join(lines)


# --- the standalone run ----------------------------------------------------------------------------


def _admin_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


def _recreate_database(database_url: str) -> None:
    import psycopg

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def _drop_database(database_url: str) -> None:
    import psycopg

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help=f"seconds (at most {MAX_DURATION_SECONDS})")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("QUILL_LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quill_load"),
        help="a scratch database on the local PostgreSQL: dropped and created fresh",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--gunicorn-workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()

    from tests.faults.conftest import PrivateRedis
    from tests.services.celery_worker import CeleryWorker
    from tests.services.clamd import Clamd
    from tests.services.gunicorn import Gunicorn
    from tests.services.seaweedfs import SeaweedS3

    started = []
    try:
        print("starting: database, SeaweedFS, clamd, Redis, worker, gunicorn ...", flush=True)
        _recreate_database(args.database_url)
        s3 = SeaweedS3(bucket="quill-load")
        started.append(s3.start())
        clamd = Clamd()
        started.append(clamd.start())
        broker = PrivateRedis()
        started.append(broker.start())
        env = {
            "DATABASE_URL": args.database_url,
            "QUILL_ENV": "development",
            "QUILL_CELERY_EAGER": "false",
            "QUILL_LOG_FORMAT": "text",
            "QUILL_LOG_LEVEL": "WARNING",
            "QUILL_REDIS_URL": broker.url,
            "CELERY_BROKER_URL": broker.url,
            **s3.settings_env(),
            **clamd.settings_env(),
        }
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=os.environ, check=True
        )
        import django

        django.setup()
        worker = CeleryWorker(env=env, queues=["quill"])
        started.append(worker.start())
        web = Gunicorn(env=env, workers=args.gunicorn_workers, threads=4)
        started.append(web.start())
        clients = make_clients(args.clients)
        print(f"running {args.clients} clients for {args.duration:.0f} s against {web.base_url} ...", flush=True)
        result = run_load(base_url=web.base_url, clients=clients, duration=args.duration)
        print("verifying every uploaded document and the audit chain ...", flush=True)
        verify_uploads(result, base_url=web.base_url, clients=clients)
        audit = subprocess.run(
            [sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=os.environ, capture_output=True, text=True
        )
        if audit.returncode != 0:
            result.problems.append(f"verify_audit failed: {(audit.stdout + audit.stderr).strip()[-500:]}")
        summary = result.summary()
        summary["verify_audit"] = (audit.stdout.strip().splitlines() or [""])[-1]
        summary["machine"] = {"cpus": os.cpu_count(), "gunicorn_workers": args.gunicorn_workers, "threads": 4}
        print()
        print(format_table(summary))
        print(f"verify_audit: {summary['verify_audit']}")
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
        return 0 if not result.problems else 1
    finally:
        for service in reversed(started):
            service.close()
        if not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: S110 - Django may not be set up if startup failed
                pass
            _drop_database(args.database_url)


if __name__ == "__main__":
    sys.exit(main())
