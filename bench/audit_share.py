"""The audit append's share of upload request time at 8 concurrent uploaders (issue 9: < 10%), two ways.

1. Timed inside: gunicorn serves ``bench/probe_wsgi.py``, which adds up the time spent in
   ``audit_record`` (hash-chain append, including waiting for the chain-head lock) per
   request; share = sum(audit time) / sum(request time) over the upload requests.
2. Switched off: the same server with the append replaced by a stub; share =
   1 - mean latency(off) / mean latency(on), and the throughput of both.

Eight clients upload 50 KiB PDFs, each for its own patient of one organisation (so every
append queues on the same chain head), for ``--seconds`` per run; on and off runs
alternate ``--rounds`` times.

    .venv/bin/python bench/audit_share.py [--clients 8] [--seconds 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from small_files import hammer

TARGET = 0.10


def read_probe(directory: Path) -> list[tuple[float, float]]:
    rows = []
    for log in directory.glob("*.log"):
        for line in log.read_text().splitlines():
            request, audit, method, path = line.split(" ", 3)
            if method == "POST" and path == "/api/documents/":
                rows.append((float(request), float(audit)))
        log.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=5)
    args = parser.parse_args()
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-audit-") as tmp:
        env = h.base_env(**s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        patients = h.client_patients(fixture, args.clients)  # one organisation, so one audit chain
        path = h.write_pdf(Path(tmp) / "letter.pdf", 50 * 1024)
        data = path.read_bytes()
        probe_dir = Path(tmp) / "probe"
        probe_dir.mkdir()
        print(h.machine(), flush=True)
        runs = {"time": [], "off": []}
        for round_ in range(args.rounds):
            for mode in ("time", "off") if round_ % 2 == 0 else ("off", "time"):
                server_env = {**env, "BENCH_AUDIT": mode, "BENCH_PROBE_DIR": str(probe_dir)}
                with h.Gunicorn(
                    server_env,
                    workers=args.workers,
                    app="probe_wsgi:application",
                    extra_args=["--pythonpath", str(Path(__file__).parent)],
                ) as server:

                    def api(index: int):
                        h.api_upload(
                            server.port, fixture.token, path, patient_id=patients[index % len(patients)],
                            filename="letter.pdf", category="letter", data=data,
                        )  # fmt: skip

                    hammer(args.clients, 2, api)
                    read_probe(probe_dir)  # drop the warm-up
                    done, wall, latencies = hammer(args.clients, args.seconds, api)
                    probe = read_probe(probe_dir)
                runs[mode].append({"rate": done / wall, "latencies": latencies, "probe": probe})
                print(f"  round {round_ + 1} audit {mode}: {done / wall:.1f} uploads/s", flush=True)
    timed = [row for run in runs["time"] for row in run["probe"]]
    inside = sum(a for _, a in timed) / sum(r for r, _ in timed)
    lat_on = statistics.mean(x for run in runs["time"] for x in run["latencies"])
    lat_off = statistics.mean(x for run in runs["off"] for x in run["latencies"])
    rate_on = statistics.mean(run["rate"] for run in runs["time"])
    rate_off = statistics.mean(run["rate"] for run in runs["off"])
    by_difference = 1 - lat_off / lat_on
    table = h.Table(
        f"Audit append share of upload time, {args.clients} concurrent uploaders, one organisation",
        ["method", "uploads/s on", "uploads/s off", "mean ms on", "mean ms off", "audit share", "target"],
    )
    table.add(
        "timed inside (sum audit / sum request)", rate_on, "-", 1000 * statistics.mean(r for r, _ in timed), "-",
        f"{inside:.1%}", h.verdict(inside, TARGET),
    )  # fmt: skip
    table.add(
        "switched off (1 - off/on latency)", rate_on, rate_off, 1000 * lat_on, 1000 * lat_off,
        f"{by_difference:.1%}", h.verdict(by_difference, TARGET),
    )  # fmt: skip
    table.print()
    audit_ms = sorted(1000 * a for _, a in timed)
    print(
        f"audit_record per upload: median {statistics.median(audit_ms):.1f} ms, "
        f"p95 {h.percentile(audit_ms, 0.95):.1f} ms ({len(audit_ms)} uploads)"
    )


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
