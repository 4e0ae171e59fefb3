"""The scale-out drill: Quill on a real SeaweedFS cluster, with a volume server and a worker killed mid-load.

    .venv/bin/python bench/scale_out.py [--clients 8] [--duration 60] [--fault-at 20] [--restart-at 35]

Starts, all on 127.0.0.1: SeaweedFS as a cluster from the `weed` binary (1 master, 3 volume
servers, replication 001, a filer with its S3 gateway, SSE-S3 on), a fresh database on the local
PostgreSQL, a private Redis, clamd, two gunicorn instances and two Celery workers. Clients
upload, list and download for the duration, spread over both gunicorns as a load balancer
would, after a warm-up of 5 s (cold processes; not measured, its documents verified with
the rest). At --fault-at one volume server and one worker are killed with SIGKILL; at --restart-at
both are started again. Meanwhile it samples what an operator would watch: each gunicorn's
/readyz, the volume servers the master counts, the queue length.

Afterwards: every document answered 201 is present, scanned clean once and downloads with the
sha256 of the bytes sent; no document row without a 201 and none twice; `verify_audit` and
`verify_storage` pass. Prints throughput before, during and after the faults and the
timeline; exits 1 if any check fails. tests/faults/test_scale_out.py runs a short version.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load_module():
    """bench/load.py's driver (bench/ is not a package)."""
    if "bench_load" in sys.modules:
        return sys.modules["bench_load"]
    spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).with_name("load.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


load = _load_module()


@dataclass(frozen=True)
class Plan:
    duration: float = 60.0
    warmup: float = 5.0  # load before the measured run, so cold processes do not count as "before"
    fault_at: float = 20.0
    restart_at: float = 35.0
    scan_timeout: float = 180.0


@dataclass
class Observation:
    at: float
    ready: list[int]
    volume_servers: int
    queued: int


@dataclass
class DrillReport:
    plan: Plan
    load: Any  # bench/load.py LoadResult of the measured run
    warmup: Any = None  # and of the warm-up before it (its documents are verified too)
    events: list[tuple[float, str]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    def phases(self) -> dict[str, dict[str, Any]]:
        """Throughput and latency of the requests that finished before, during and after the faults."""
        bounds = {
            "before": (0.0, self.plan.fault_at),
            "during": (self.plan.fault_at, self.restart_done),
            "after": (self.restart_done, self.load.duration),
        }
        phases = {}
        for name, (start, end) in bounds.items():
            samples = [sample for sample in self.load.samples if start <= sample.at < end]
            seconds = max(end - start, 1e-9)
            latencies = sorted(sample.seconds for sample in samples)
            kinds = Counter(sample.kind for sample in samples if 200 <= sample.status < 300)
            phases[name] = {
                "seconds": round(seconds, 1),
                "requests_per_s": round(len(samples) / seconds, 1),
                "uploads_per_s": round(kinds["upload"] / seconds, 2),
                "downloads_per_s": round(kinds["download"] / seconds, 2),
                "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
                "statuses": dict(sorted(Counter(str(sample.status) for sample in samples).items())),
            }
        return phases

    @property
    def restart_done(self) -> float:
        restarted = [at for at, what in self.events if what.startswith("restarted")]
        return max(restarted) if restarted else self.plan.restart_at

    def summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan.__dict__,
            "load": self.load.summary(),
            "warmup": self.warmup.summary() if self.warmup else None,
            "phases": self.phases(),
            "events": [{"at_s": round(at, 1), "event": what} for at, what in self.events],
            "checks": self.checks,
            "problems": self.problems,
        }


def _percentile(values: list[float], percent: float) -> float:
    return load._percentile(values, percent)


def _ready_status(base_url: str) -> int:
    try:
        return requests.get(f"{base_url}/readyz", timeout=5).status_code
    except requests.RequestException:
        return 0


def _observe(report: DrillReport, *, started: float, webs, cluster, broker_url: str, stop: threading.Event) -> None:
    """Every second: each gunicorn's /readyz (asked at once), the volume servers the master counts, the queue."""
    import redis

    queue = redis.Redis.from_url(broker_url, socket_connect_timeout=1, socket_timeout=2)
    with ThreadPoolExecutor(max_workers=len(webs), thread_name_prefix="drill-readyz") as pool:
        while not stop.is_set():
            at = time.monotonic() - started
            ready = pool.map(_ready_status, [web.base_url for web in webs])
            try:
                servers = cluster.live_volume_servers()
            except OSError:
                servers = -1
            try:
                queued = int(queue.llen("quill"))
            except redis.RedisError:
                queued = -1
            report.observations.append(Observation(at, list(ready), servers, queued))
            stop.wait(max(0.0, at + 1.0 - (time.monotonic() - started)))
    queue.close()


def run_drill(*, cluster, webs, workers, clients, plan: Plan, env: dict[str, str], broker_url: str) -> DrillReport:
    """Load both gunicorns for `plan.duration`, kill and restart a volume server and a worker, then verify."""
    report = DrillReport(plan=plan, load=None)
    base_urls = [web.base_url for web in webs]
    if plan.warmup:
        report.warmup = load.run_load(base_url=base_urls, clients=clients, duration=plan.warmup)
    holder: dict[str, Any] = {}
    started = time.monotonic()

    def drive() -> None:
        holder["result"] = load.run_load(base_url=base_urls, clients=clients, duration=plan.duration)

    driver = threading.Thread(target=drive, name="drill-load")
    stop = threading.Event()
    observed = {"report": report, "started": started, "webs": webs, "cluster": cluster, "broker_url": broker_url}
    observer = threading.Thread(target=_observe, kwargs={**observed, "stop": stop}, name="drill-observer", daemon=True)
    driver.start()
    observer.start()

    def at(seconds: float) -> None:
        time.sleep(max(0.0, started + seconds - time.monotonic()))

    def event(what: str) -> None:
        report.events.append((time.monotonic() - started, what))
        print(f"  {time.monotonic() - started:6.1f} s  {what}", flush=True)

    victim_volume, victim_worker = cluster.volumes[1], workers[1]
    at(plan.fault_at)
    victim_volume.kill()
    event(f"SIGKILL {victim_volume.name}")
    victim_worker.kill()
    event("SIGKILL worker 2")
    at(plan.restart_at)
    # Restarted from this thread: the harness's processes die with the thread that spawned them.
    victim_volume.start()
    cluster.wait_for_volume_servers()
    event(f"restarted {victim_volume.name}")
    victim_worker.start()
    event("restarted worker 2")
    driver.join()
    stop.set()
    observer.join(timeout=10)
    report.load = holder["result"]
    event("load finished")
    _verify(report, webs=webs, clients=clients, env=env, scan_timeout=plan.scan_timeout)
    event("verified")
    return report


def _verify(report: DrillReport, *, webs, clients, env: dict[str, str], scan_timeout: float) -> None:
    from apps.audit.models import AuditEvent
    from apps.documents.models import Document

    result = report.load
    runs = [run for run in (report.warmup, report.load) if run is not None]
    for run in runs:
        # A 503 (storage_unavailable) is Quill refusing an upload it could not store: allowed, if no row is left.
        run.problems[:] = [problem for problem in run.problems if "server errors" not in problem]
        internal = [sample for sample in run.samples if sample.status == 500]
        if internal:
            run.problems.append(f"{len(internal)} answers were 500")
        no_answer = [sample for sample in run.samples if sample.status == 0]
        if no_answer:
            run.problems.append(f"{len(no_answer)} requests got no answer")
        load.verify_uploads(run, base_url=webs[0].base_url, clients=clients, scan_timeout=scan_timeout)
        if run is not result:
            result.problems.extend(f"warm-up: {problem}" for problem in run.problems)
    accepted = {item.document_id for run in runs for item in run.uploaded}
    rows = list(Document.objects.filter(patient_id__in=[client.patient_id for client in clients]))
    stray = [str(row.pk) for row in rows if str(row.pk) not in accepted]
    if stray:
        result.problems.append(f"{len(stray)} document rows no client was given a 201 for: {stray[:5]}")
    if len(rows) != len({row.sha256 for row in rows}):
        result.problems.append("the same upload is stored twice")
    scans = Counter(
        AuditEvent.objects.filter(action="document.scanned", object_id__in=list(accepted)).values_list(
            "object_id", flat=True
        )
    )
    not_once = {document: scans.get(document, 0) for document in accepted if scans.get(document, 0) != 1}
    if not_once:
        result.problems.append(f"{len(not_once)} documents whose scan is not recorded exactly once: {not_once}")
    report.checks["documents"] = f"{len(accepted)} accepted, {len(rows)} rows, {sum(scans.values())} scans recorded"
    commands = ("verify_audit", "verify_storage")
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        outcomes = pool.map(
            lambda command: subprocess.run(
                [sys.executable, "manage.py", command],
                cwd=ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=600,
            ),
            commands,
        )
    for command, outcome in zip(commands, outcomes, strict=True):
        last_line = ((outcome.stdout + outcome.stderr).strip().splitlines() or [""])[-1]
        report.checks[command] = last_line
        if outcome.returncode != 0:
            result.problems.append(f"{command} failed: {(outcome.stdout + outcome.stderr).strip()[-600:]}")
    report.problems = list(result.problems)


def format_report(report: DrillReport) -> str:
    lines = [load.format_table(report.load.summary()), ""]
    if report.warmup is not None:
        warm = report.warmup.summary()
        lines += [
            f"warm-up before it: {warm['duration_s']} s, {warm['requests']} requests, {warm['uploaded']} uploaded",
            "",
        ]
    lines.append("throughput around the faults:")
    lines.append(f"{'phase':<9}{'s':>6}{'req/s':>8}{'up/s':>7}{'down/s':>8}{'p95 ms':>9}  statuses")
    for name, phase in report.phases().items():
        statuses = ", ".join(f"{code}: {n}" for code, n in phase["statuses"].items())
        lines.append(
            f"{name:<9}{phase['seconds']:>6}{phase['requests_per_s']:>8}{phase['uploads_per_s']:>7}"
            f"{phase['downloads_per_s']:>8}{phase['p95_ms']:>9}  {statuses}"
        )
    lines += ["", "what an operator sees (every second: /readyz of each gunicorn, volume servers, queued tasks):"]
    events = iter(sorted(report.events))
    upcoming = next(events, None)
    for observation in report.observations:
        while upcoming is not None and upcoming[0] <= observation.at:
            lines.append(f"  {upcoming[0]:6.1f} s  ** {upcoming[1]}")
            upcoming = next(events, None)
        lines.append(
            f"  {observation.at:6.1f} s  readyz {'/'.join(map(str, observation.ready))}, "
            f"{observation.volume_servers} volume servers, {observation.queued} queued"
        )
    while upcoming is not None:
        lines.append(f"  {upcoming[0]:6.1f} s  ** {upcoming[1]}")
        upcoming = next(events, None)
    lines += ["", *(f"{name}: {value}" for name, value in report.checks.items())]
    lines.append("drill: " + ("all checks passed" if not report.problems else f"{len(report.problems)} problems"))
    lines += [f"  - {problem}" for problem in report.problems[:20]]
    return "\n".join(lines)


def drill_env(*, database_url: str, cluster, clamd, broker_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "QUILL_ENV": "development",
        "QUILL_CELERY_EAGER": "false",
        "QUILL_LOG_FORMAT": "text",
        "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_DB_CONN_MAX_AGE": "0",
        "QUILL_REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "QUILL_S3_SSE": "AES256",
        # A killed worker's unacknowledged task comes back this soon (production: 900 s).
        "QUILL_CELERY_VISIBILITY_TIMEOUT": "10",
        **cluster.settings_env(),
        **clamd.settings_env(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--fault-at", type=float, default=20.0)
    parser.add_argument("--restart-at", type=float, default=35.0)
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="processes per gunicorn instance")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("QUILL_DRILL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quill_drill"),
        help="a scratch database on the local PostgreSQL: dropped and created fresh",
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    if not 0 < args.fault_at < args.restart_at < args.duration:
        parser.error("need 0 < --fault-at < --restart-at < --duration")

    from tests.faults.conftest import PrivateRedis
    from tests.services.celery_worker import CeleryWorker
    from tests.services.clamd import Clamd
    from tests.services.gunicorn import Gunicorn
    from tests.services.seaweedfs_cluster import SeaweedCluster

    started: list[Any] = []
    try:
        print("starting: SeaweedFS cluster (master, 3 volume servers, filer + S3), clamd, Redis ...", flush=True)
        load._recreate_database(args.database_url)
        cluster = SeaweedCluster(bucket="quill-drill")
        started.append(cluster.start())
        clamd = Clamd()
        started.append(clamd.start())
        broker = PrivateRedis()
        started.append(broker.start())
        env = drill_env(database_url=args.database_url, cluster=cluster, clamd=clamd, broker_url=broker.url)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
        import django

        django.setup()
        print("starting: 2 Celery workers, 2 gunicorn instances ...", flush=True)
        workers = [
            CeleryWorker(env=env, queues=["quill"], pool="prefork", concurrency=2, nodename=f"drill-{n}@localhost")
            for n in (1, 2)
        ]
        for worker in workers:
            started.append(worker.start())
        webs = [Gunicorn(env=env, workers=args.gunicorn_workers, threads=4) for _ in range(2)]
        for web in webs:
            started.append(web.start())
        clients = load.make_clients(args.clients)
        plan = Plan(duration=args.duration, fault_at=args.fault_at, restart_at=args.restart_at)
        print(f"running {args.clients} clients for {plan.duration:.0f} s over {len(webs)} gunicorns ...", flush=True)
        report = run_drill(
            cluster=cluster, webs=webs, workers=workers, clients=clients, plan=plan, env=env, broker_url=broker.url
        )
        print()
        print(format_report(report))
        if args.json:
            args.json.write_text(json.dumps(report.summary(), indent=2, default=str))
        return 0 if not report.problems else 1
    finally:
        for service in reversed(started):
            service.close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up if startup failed
            pass
        load._drop_database(args.database_url)


if __name__ == "__main__":
    sys.exit(main())
