"""Small uploads at 8 concurrent clients: Quill documents/s vs raw S3 PUTs/s (issue 9: at least 0.5x).

Starts SeaweedFS and gunicorn (``--workers`` sync workers, default 5 = 2 x cores + 1).
Eight client threads each upload a 50 KiB PDF through ``POST /api/documents/``, each for
its own patient of one organisation (``--patients same``: all for one patient) (token
auth, patient check, validation with a real PDF parse, S3 put, row + audit + outbox,
scan queued on Redis) for ``--seconds``; then eight threads each ``put_object`` the
same bytes with one shared boto3 client for the same time. The two phases alternate
``--rounds`` times so background load hits both alike. A third phase each round
measures the floor: the same clients sending ``GET /api/`` with the token, an
authenticated API request that does no work of its own (middleware, DRF, token
lookup, throttle), i.e. what any API request costs before the upload's own work.
Prints throughput and p50/p95/p99 latency of all three and the ratio, and each round
the CPU time per request of each process (kernel accounting; "client" is this process).

    .venv/bin/python bench/small_files.py [--clients 8] [--seconds 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TARGET = 0.5


def hammer(clients: int, seconds: float, action) -> tuple[int, float, list[float]]:
    """Run `action()` in `clients` threads for `seconds`; returns (done, wall seconds, latencies)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(clients + 1)

    def loop(index: int):
        start.wait()
        mine = []
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                action(index)
                mine.append(time.perf_counter() - began)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise errors[0]
    return len(latencies), wall, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size-kib", type=int, default=50)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--patients",
        choices=["per-client", "same"],
        default="per-client",
        help="each client uploads for its own patient of one organisation (default), or all for one patient",
    )
    args = parser.parse_args()
    env = h.base_env()
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-small-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        patients = h.client_patients(fixture, args.clients) if args.patients == "per-client" else [fixture.patient_id]
        path = h.write_pdf(Path(tmp) / "letter.pdf", args.size_kib * 1024)
        data = path.read_bytes()
        client = h.s3_client(s3)
        with h.Gunicorn(env, workers=args.workers, worker_class=args.worker_class, threads=args.threads) as server:
            print(h.machine())
            print(
                f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads; "
                f"{args.clients} clients; {len(data)} byte PDF; patients: {args.patients}",
                flush=True,
            )

            def api(index: int):
                h.api_upload(
                    server.port, fixture.token, path, patient_id=patients[index % len(patients)],
                    filename="letter.pdf", category="letter", data=data,
                )  # fmt: skip

            def raw(index: int):
                client.put_object(Bucket=s3.bucket, Key=f"raw/{uuid.uuid4()}.pdf", Body=data)

            def floor(index: int):
                status, _ = h.api_get(server.port, fixture.token, "/api/")
                assert status == 200, status

            hammer(args.clients, 2, api)  # warm-up: every worker imported and connected
            hammer(args.clients, 1, raw)
            totals = {"api": [0, 0.0, []], "raw": [0, 0.0, []], "floor": [0, 0.0, []]}
            per_round = []
            meter = h.CpuMeter(gunicorn=server.pid)
            for round_ in range(args.rounds):
                order = [("api", api), ("raw", raw)] if round_ % 2 == 0 else [("raw", raw), ("api", api)]
                order.append(("floor", floor))
                rates, cpu = {}, {}
                for label, action in order:
                    meter.start()
                    done, wall, latencies = hammer(args.clients, args.seconds, action)
                    cpu[label] = h.cpu_per_item(meter.stop(), done)
                    totals[label][0] += done
                    totals[label][1] += wall
                    totals[label][2].extend(latencies)
                    rates[label] = done / wall
                per_round.append(rates)
                print(f"  round {round_ + 1}: api {rates['api']:.1f}/s, raw {rates['raw']:.1f}/s", flush=True)
                for label in ("api", "raw", "floor"):
                    print(f"    per request, {label}: {cpu[label]}", flush=True)
    table = h.Table(
        f"Small files: {args.size_kib} KiB at {args.clients} concurrent clients "
        f"({args.rounds} x {args.seconds:.0f} s each)",
        ["path", "requests", "per second", "p50 ms", "p95 ms", "p99 ms"],
    )
    rate = {}
    for label, (done, wall, latencies) in totals.items():
        rate[label] = done / wall
        table.add(
            {"api": "Quill API upload", "raw": "raw S3 put_object", "floor": "Quill GET /api/ (floor)"}[label],
            done,
            rate[label],
            1000 * h.percentile(latencies, 0.50),
            1000 * h.percentile(latencies, 0.95),
            1000 * h.percentile(latencies, 0.99),
        )
    table.print()
    print(
        f"floor: an authenticated API request that does no work (token, throttle, middleware, DRF) "
        f"runs at {rate['floor']:.0f}/s, {rate['floor'] / rate['raw']:.2f}x the raw PUT rate"
    )
    ratio = rate["api"] / rate["raw"]
    ratios = ", ".join(f"{r['api'] / r['raw']:.2f}" for r in per_round)
    print(f"ratio Quill/raw: {ratio:.2f} (per round: {ratios}) {h.verdict(ratio, TARGET, at_most=False)}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
