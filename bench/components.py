"""Where a small upload's CPU goes: per-component CPU per request inside the gunicorn worker (issue 21).

Starts SeaweedFS and one sync gunicorn worker serving ``bench/probe_wsgi.py`` with
``BENCH_COMPONENTS=1`` (per-thread CPU timers around named components and every database
statement; production code is untouched), then, one request at a time so nothing waits on
another: ``--count`` 50 KiB PDF uploads (``POST /api/documents/``), as many authenticated
no-op requests (``GET /api/``, the floor) and downloads of the uploaded documents, interleaved.
Prints, per kind of request, the worker's CPU per request by component (medians over
requests: the mean is in brackets), so the next regression is found in one run.
``--baseline PATH`` serves another checkout's code through the same probe, interleaved
request by request, and prints its column beside this tree's.

    .venv/bin/python bench/components.py [--count 300] [--baseline /tmp/base]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

KINDS = {"upload": ("POST", "/api/documents/"), "floor": ("GET", "/api/"), "download": ("GET", "content")}


def read_components(probe_dir: Path) -> list[dict]:
    records = []
    for log in probe_dir.glob("*.components"):
        records.extend(json.loads(line) for line in log.read_text().splitlines() if line)
        log.unlink()
    return records


def kind_of(record: dict) -> str | None:
    for kind, (method, path) in KINDS.items():
        if record["method"] == method and (record["path"] == path or record["path"].endswith(path)):
            return kind
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="requests of each kind (per tree)")
    parser.add_argument("--size-kib", type=int, default=50)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured interleaved with this one")
    args = parser.parse_args()
    env = h.base_env()
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-components-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        path = h.write_pdf(Path(tmp) / "letter.pdf", args.size_kib * 1024)
        data = path.read_bytes()
        trees = {"this tree": h.REPO_ROOT}
        if args.baseline:
            trees = {"baseline": args.baseline.resolve(), **trees}
        probe_dirs = {name: Path(tmp) / f"probe-{n}" for n, name in enumerate(trees)}
        with contextlib.ExitStack() as stack:
            servers = {}
            for name, root in trees.items():
                probe_dirs[name].mkdir()
                server_env = {**env, "BENCH_COMPONENTS": "1", "BENCH_PROBE_DIR": str(probe_dirs[name])}
                servers[name] = stack.enter_context(
                    h.Gunicorn(server_env, workers=1, app="probe_wsgi:application", root=root,
                               extra_args=["--pythonpath", str(Path(__file__).parent)])
                )  # fmt: skip
            print(h.machine())
            print(f"one sync worker per tree; {args.count} of each request, one at a time; {len(data)} byte PDF")

            def once(server) -> None:
                document = h.api_upload(
                    server.port, fixture.token, path, patient_id=fixture.patient_id, filename="letter.pdf",
                    category="letter", data=data,
                )  # fmt: skip
                status, _ = h.api_get(server.port, fixture.token, "/api/")
                assert status == 200, status
                h.mark_clean([document["id"]])
                h.api_download(server.port, fixture.token, document["id"], expect=len(data))

            for _ in range(10):  # warm-up
                for server in servers.values():
                    once(server)
            for name in trees:
                read_components(probe_dirs[name])
            started = time.monotonic()
            for n in range(args.count):
                for server in servers.values() if n % 2 == 0 else reversed(servers.values()):
                    once(server)
            print(f"{args.count} rounds in {time.monotonic() - started:.0f} s")
            results = {name: read_components(probe_dirs[name]) for name in trees}
    for kind in KINDS:
        columns = list(trees)
        table = h.Table(
            f"{kind}: worker CPU per request by component, ms (median [mean])",
            ["component", *columns, *(["ratio"] if len(columns) == 2 else [])],
        )
        per_tree = {}
        rows = sorted(
            {row for name in columns for r in results[name] if kind_of(r) == kind for row in r["cpu"]}
            - {"database statements (count)"},
            key=lambda row: (row != "request", -sum(r["cpu"].get(row, 0.0) for n in columns for r in results[n])),
        )
        for name in columns:
            records = [r["cpu"] for r in results[name] if kind_of(r) == kind]
            per_tree[name] = {
                row: [1000 * r.get(row, 0.0) for r in records] for row in rows if any(row in r for r in records)
            }
            counts = [r.get("database statements (count)", 0) for r in records]
            per_tree[name]["statements"] = counts
        for row in [*rows, "statements"]:
            cells, means = [], []
            for name in columns:
                values = per_tree[name].get(row)
                if not values:
                    cells.append("–")
                    means.append(None)
                    continue
                median, mean = statistics.median(values), statistics.fmean(values)
                cells.append(f"{median:.2f} [{mean:.2f}]" if row != "statements" else f"{median:.0f}")
                means.append(mean)
            if all(cell == "–" for cell in cells):
                continue
            ratio = []
            if len(columns) == 2:
                ratio = [f"{means[1] / means[0]:.2f}" if means[0] and means[1] is not None else "–"]
            table.add(row, *cells, *ratio)
        table.print()


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
