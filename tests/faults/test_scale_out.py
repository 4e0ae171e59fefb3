"""The scale-out drill, short: Quill on a SeaweedFS cluster loses nothing when a volume server
and a worker are killed mid-load.

bench/scale_out.py's driver with 4 clients for 12 s (after 2 s of warm-up) over two gunicorns and two workers,
against 1 master, 3 volume servers (replication 001) and a filer with its S3 gateway, SSE-S3
on. At 3 s one volume server and one worker get SIGKILL; at 6 s both start again. Then
every document answered 201 is present, scanned clean exactly once and downloadable with its
sha256; no row without a 201 and none twice; verify_audit and verify_storage pass. The 60 s
figures are in docs/performance.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import subprocess_database_url
from tests.services.celery_worker import CeleryWorker
from tests.services.seaweedfs_cluster import SeaweedCluster

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 4


def _drill():
    if "bench_scale_out" in sys.modules:
        return sys.modules["bench_scale_out"]
    path = Path(__file__).resolve().parents[2] / "bench" / "scale_out.py"
    spec = importlib.util.spec_from_file_location("bench_scale_out", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cluster():
    with SeaweedCluster(bucket="quill-drill-test") as running:
        yield running


def test_a_volume_server_and_a_worker_killed_mid_load_lose_nothing(
    cluster, clamd_server, private_redis, gunicorn_factory
):
    drill = _drill()
    env = drill.drill_env(
        database_url=subprocess_database_url(), cluster=cluster, clamd=clamd_server, broker_url=private_redis.url
    )
    workers = [CeleryWorker(env=env, queues=["quill"], nodename=f"drill-test-{n}@localhost") for n in (1, 2)]
    webs = []
    try:
        # given two workers and two gunicorns
        for worker in workers:
            worker.start()
        webs = [gunicorn_factory(env=env, workers=1, threads=4) for _ in range(2)]
        clients = drill.load.make_clients(CLIENTS)
        plan = drill.Plan(duration=12.0, warmup=2.0, fault_at=3.0, restart_at=6.0, scan_timeout=90.0)
        # when the load runs and one volume server and one worker are killed and restarted
        report = drill.run_drill(
            cluster=cluster,
            webs=webs,
            workers=workers,
            clients=clients,
            plan=plan,
            env=env,
            broker_url=private_redis.url,
        )
        print(drill.format_report(report))
    finally:
        for process in [*workers, *webs]:  # everything is verified: no need for a graceful stop
            process.kill()
        for worker in workers:
            worker.close()
    # then the faults really happened, and during them the cluster ran on two volume servers
    events = [what for _, what in report.events]
    assert events[:2] == ["SIGKILL volume-1", "SIGKILL worker 2"]
    assert {"restarted volume-1", "restarted worker 2"} <= set(events)
    during = [o.volume_servers for o in report.observations if plan.fault_at < o.at < plan.restart_at]
    assert 2 in during, report.observations
    assert cluster.live_volume_servers() == 3
    # and work was accepted before, during and after them
    uploads = [sample.at for sample in report.load.samples if sample.kind == "upload" and sample.status == 201]
    assert any(at < plan.fault_at for at in uploads)
    assert any(plan.fault_at < at < report.restart_done for at in uploads)
    # and nothing was lost, duplicated or scanned twice; the audit chain and the store verify
    assert report.problems == []
    stored = len(report.load.uploaded) + len(report.warmup.uploaded)
    assert report.load.uploaded
    assert report.checks["verify_storage"].startswith(f"Checked {stored} document(s): {stored} ok")
