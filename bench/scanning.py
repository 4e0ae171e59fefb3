"""Scanning throughput: a Celery worker's documents/s vs calling clamd INSTREAM directly (issue 9: >= 0.8x).

Starts SeaweedFS, clamd (with the tests' own signature database) and a Celery
worker. ``--count`` PDFs of ``--size-kib`` are put into S3 with pending Document
rows; then (a) the same files are streamed from local disk to clamd INSTREAM
(Quill's own INSTREAM client, ``apps.files.scanner.scan_stream``) by
``--concurrency`` threads, and (b) ``scan_document`` is queued for every document
and the clock runs until none is pending: the worker (``--concurrency`` 1: the solo
pool; more: the prefork pool with that many processes, as ``celery worker`` runs in
production) reads each object from S3, streams it to clamd, records the verdict with
its audit event and FHIR outbox row, and queues the thumbnail. Both sides keep the
same number of scans in flight, so clamd gets the same parallelism.

Thumbnails are routed to a background queue of their own
(``QUILL_CELERY_BACKGROUND_QUEUE``, as docs/operations.md recommends for scan
workers) that this worker does not consume; the queue is deleted at the end.
clamd runs with ``DisableCache yes``: otherwise it remembers the hash of every clean
file, and whichever side scans second only pays for a hash lookup (measured on this
machine: 38 docs/s on a first pass, 121/s on a second). An upload is scanned once, so
the uncached scan is the one that counts. The worker consumes a queue of its own for
this run, so messages other benchmarks left in the bench Redis DB are not counted.
Each round also prints the CPU time per document of each process (kernel accounting;
"client" is this process, which on the worker side polls for the end every 20 ms with
one indexed query).

    .venv/bin/python bench/scanning.py [--count 60] [--size-kib 1024] [--rounds 2] [--concurrency 1]
"""

# ruff: noqa: B023  (each closure is called within its own loop iteration)
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TARGET = 0.8


def _task_times(log_path: Path) -> dict[str, list[float]]:
    """Task run times from the worker's log lines 'Task <name>[<id>] succeeded in <s>s'."""
    import re

    times: dict[str, list[float]] = {}
    for match in re.finditer(r"Task (\S+)\[[^\]]+\] succeeded in ([0-9.]+)s", log_path.read_text()):
        times.setdefault(match.group(1), []).append(float(match.group(2)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="scans in flight on each side")
    args = parser.parse_args()
    from tests.services.celery_worker import CeleryWorker
    from tests.services.clamd import Clamd

    table = h.Table(
        f"Scanning: {args.count} PDFs of {args.size_kib} KiB, concurrency {args.concurrency}",
        ["round", "direct INSTREAM docs/s", "worker docs/s", "ratio", "target"],
    )

    class UncachedClamd(Clamd):
        def _config(self) -> str:
            return super()._config() + "DisableCache yes\n"

    queue = f"quill-bench-scan-{uuid.uuid4().hex[:8]}"
    with (
        h.seaweed() as s3,
        UncachedClamd() as clamd,
        tempfile.TemporaryDirectory(prefix="quill-bench-scan-") as tmp,
    ):
        env = h.base_env(
            **s3.settings_env(),
            **clamd.settings_env(),
            QUILL_CELERY_QUEUE=queue,
            QUILL_CELERY_BACKGROUND_QUEUE=f"{queue}-background",
        )
        h.setup_django(env)
        fixture = h.make_fixture()
        from apps.documents.models import Document
        from apps.documents.tasks import scan_document
        from apps.files.scanner import scan_stream
        from quill.queue import enqueue

        client = h.s3_client(s3)
        files = [h.write_pdf(Path(tmp) / f"scan-{n}.pdf", args.size_kib * 1024) for n in range(args.count)]
        print(h.machine(), flush=True)
        # A patient per round, so the wait for the end is one cheap indexed query per poll.
        round_patients = h.client_patients(fixture, args.rounds)
        pool = "solo" if args.concurrency == 1 else "prefork"
        worker = CeleryWorker(env=env, queues=[queue], pool=pool, concurrency=args.concurrency)
        with worker, ThreadPoolExecutor(args.concurrency) as threads:
            ratios = []
            for round_ in range(1, args.rounds + 1):
                patient_id = round_patients[round_ - 1]
                ids = []
                for path in files:
                    document_id = uuid.uuid4()
                    key = f"{fixture.organisation_id}/{patient_id}/documents/bench/{document_id}.pdf"
                    client.upload_file(str(path), s3.bucket, key)
                    Document.objects.create(
                        id=document_id, organisation_id=fixture.organisation_id, patient_id=patient_id,
                        title=path.name, category="letter", document_date="2026-01-01", original_filename=path.name,
                        content_type="application/pdf", size=path.stat().st_size, sha256="0" * 64, sha1="0" * 40,
                        storage_key=key, uploaded_by_id=fixture.user_id, lineage_id=document_id,
                    )  # fmt: skip
                    ids.append(str(document_id))

                def scan_file(path: Path) -> None:
                    with open(path, "rb") as reader:
                        assert scan_stream(reader).clean

                def direct():
                    list(threads.map(scan_file, files))

                meter = h.CpuMeter(worker=worker.pid)
                meter.start()
                direct_seconds = h.timed(direct)
                direct_cpu = meter.stop()

                def through_worker():
                    for document_id in ids:
                        enqueue(scan_document, document_id)
                    deadline = time.monotonic() + 900
                    while Document.objects.filter(patient_id=patient_id, scan_status="pending").exists():
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"scans not finished; see {worker.log_path}")
                        time.sleep(0.02)

                meter.start()
                worker_seconds = h.timed(through_worker)
                worker_cpu = meter.stop()
                clean = Document.objects.filter(pk__in=ids, scan_status="clean").count()
                assert clean == len(ids), f"{clean} of {len(ids)} clean"
                direct_rate, worker_rate = args.count / direct_seconds, args.count / worker_seconds
                ratios.append(worker_rate / direct_rate)
                table.add(
                    round_, direct_rate, worker_rate, f"{ratios[-1]:.2f}", h.verdict(ratios[-1], TARGET, at_most=False)
                )
                print(f"  round {round_}: direct {direct_rate:.1f}/s, worker {worker_rate:.1f}/s", flush=True)
                print(f"    per document, direct: {h.cpu_per_item(direct_cpu, args.count)}", flush=True)
                print(f"    per document, worker: {h.cpu_per_item(worker_cpu, args.count)}", flush=True)
            task_times = _task_times(worker.log_path)
        import redis

        redis.Redis.from_url(h.REDIS_URL).delete(f"{queue}-background")  # the thumbnails nobody consumed
    table.print()
    for name, times in task_times.items():
        print(f"worker log: {name}: {len(times)} tasks, median {1000 * h.median(times):.0f} ms")
    print(f"median ratio {h.median(ratios):.2f} {h.verdict(h.median(ratios), TARGET, at_most=False)}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
