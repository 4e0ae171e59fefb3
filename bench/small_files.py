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
import contextlib
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


def seed_record(fixture, documents: int):
    """A patient of the fixture's organisation with `documents` documents (rows only, seeded with COPY)."""
    from django.core.management import call_command

    from apps.patients.models import Patient

    before = set(Patient.objects.filter(organisation_id=fixture.organisation_id).values_list("pk", flat=True))
    call_command("seed_documents", patients=1, documents=documents, organisation=str(fixture.organisation_id))
    [patient] = Patient.objects.filter(organisation_id=fixture.organisation_id).exclude(pk__in=before)
    return patient.pk


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
    parser.add_argument(
        "--patient-documents",
        type=int,
        default=0,
        help="also upload (all clients) for one patient with this many documents and for one with none",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/base <commit>`): its gunicorn is measured too, "
        "phase by phase in alternating order",
    )
    parser.add_argument("--label", default="this tree", help="name of this tree's rows")
    args = parser.parse_args()
    # Connections kept for the whole run, so the "database" role (our backends' pids, read at each
    # phase's start) sees every statement; production's 60 s lifetime adds a reconnect a minute.
    env = h.base_env(QUILL_DB_CONN_MAX_AGE="3600")
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-small-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        patients = h.client_patients(fixture, args.clients) if args.patients == "per-client" else [fixture.patient_id]
        path = h.write_pdf(Path(tmp) / "letter.pdf", args.size_kib * 1024)
        data = path.read_bytes()
        client = h.s3_client(s3)
        record = {}
        if args.patient_documents:
            from apps.patients.models import Patient
            from tests.factories import make_patient

            started = time.monotonic()
            record["large"] = seed_record(fixture, args.patient_documents)
            print(f"seeded one patient with {args.patient_documents} documents in {time.monotonic() - started:.0f} s")
            record["empty"] = make_patient(Patient.objects.get(pk=fixture.patient_id).organisation).pk
        variants = {args.label: h.REPO_ROOT}
        if args.baseline:
            variants = {"baseline": args.baseline.resolve(), **variants}
        with contextlib.ExitStack() as stack:
            servers = {
                name: stack.enter_context(
                    h.Gunicorn(env, workers=args.workers, worker_class=args.worker_class, threads=args.threads,
                               root=root)
                )
                for name, root in variants.items()
            }  # fmt: skip
            print(h.machine())
            print(
                f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads} threads per tree "
                f"({', '.join(f'{name}: {root}' for name, root in variants.items())}); "
                f"{args.clients} clients; {len(data)} byte PDF; patients: {args.patients}",
                flush=True,
            )

            def uploads(server, patient_ids):
                def action(index: int):
                    h.api_upload(
                        server.port, fixture.token, path, patient_id=patient_ids[index % len(patient_ids)],
                        filename="letter.pdf", category="letter", data=data,
                    )  # fmt: skip

                return action

            def floor_of(server):
                def action(index: int):
                    status, _ = h.api_get(server.port, fixture.token, "/api/")
                    assert status == 200, status

                return action

            def raw(index: int):
                client.put_object(Bucket=s3.bucket, Key=f"raw/{uuid.uuid4()}.pdf", Body=data)

            phases = [("raw", "raw S3 put_object", None, raw)]
            for name, server in servers.items():
                phases.append((f"{name}:upload", f"{name}: upload", server, uploads(server, patients)))
                if record:
                    for kind in ("empty", "large"):
                        phases.append(
                            (f"{name}:{kind}", f"{name}: upload, record {kind}", server,
                             uploads(server, [record[kind]]))
                        )  # fmt: skip
                phases.append((f"{name}:floor", f"{name}: GET /api/ (floor)", server, floor_of(server)))
            for _key, _, server, action in phases:  # warm-up: every worker imported and connected
                # (and the large record's retention moved to today once: the first upload of a day
                # with a later clinical date rewrites the record's retain_until, by the rule)
                hammer(args.clients, 2 if server else 1, action)
            totals = {key: [0, 0.0, []] for key, *_ in phases}
            cpu_totals: dict[str, dict[str, float]] = {key: {} for key, *_ in phases}
            per_round = []
            for round_ in range(args.rounds):
                order = phases if round_ % 2 == 0 else list(reversed(phases))
                rates = {}
                for key, _, _server, action in order:
                    meter = h.CpuMeter(gunicorn=[s.pid for s in servers.values()], database=h.database_backends())
                    meter.start()
                    done, wall, latencies = hammer(args.clients, args.seconds, action)
                    for role, seconds in meter.stop().items():
                        cpu_totals[key][role] = cpu_totals[key].get(role, 0.0) + seconds
                    totals[key][0] += done
                    totals[key][1] += wall
                    totals[key][2].extend(latencies)
                    rates[key] = done / wall
                per_round.append(rates)
                print(f"  round {round_ + 1}: " + ", ".join(f"{k} {v:.1f}/s" for k, v in rates.items()), flush=True)
    table = h.Table(
        f"Small files: {args.size_kib} KiB at {args.clients} concurrent clients "
        f"({args.rounds} x {args.seconds:.0f} s each, phases interleaved)",
        ["path", "requests", "per second", "p50 ms", "p95 ms", "p99 ms",
         "gunicorn ms CPU", "database ms CPU", "other postgres ms CPU", "all ms CPU"],
    )  # fmt: skip
    rate, cpu = {}, {}
    for key, title, *_ in phases:
        done, wall, latencies = totals[key]
        rate[key] = done / wall
        cpu[key] = {role: 1000 * seconds / done for role, seconds in cpu_totals[key].items()}
        cpu[key]["all"] = sum(cpu[key].values())
        table.add(
            title, done, rate[key],
            1000 * h.percentile(latencies, 0.50), 1000 * h.percentile(latencies, 0.95),
            1000 * h.percentile(latencies, 0.99),
            cpu[key].get("gunicorn", 0.0), cpu[key].get("database", 0.0), cpu[key].get("postgres", 0.0),
            cpu[key]["all"],
        )  # fmt: skip
    table.print()
    for name in servers:
        upload, floor = f"{name}:upload", f"{name}:floor"
        ratio = rate[upload] / rate["raw"]
        ratios = ", ".join(f"{r[upload] / r['raw']:.2f}" for r in per_round)
        print(f"{name}: uploads/s over raw PUTs/s {ratio:.2f} (per round: {ratios}) "
              f"{h.verdict(ratio, TARGET, at_most=False)}")  # fmt: skip
        print(
            f"{name}: gunicorn CPU per upload {cpu[upload].get('gunicorn', 0):.2f} ms, "
            f"{cpu[upload].get('gunicorn', 0) / max(cpu[floor].get('gunicorn', 0), 1e-9):.2f}x the floor's "
            f"{cpu[floor].get('gunicorn', 0):.2f} ms; all processes {cpu[upload]['all']:.2f} ms, "
            f"{cpu[upload]['all'] / cpu['raw']['all']:.2f}x the raw PUT's {cpu['raw']['all']:.2f} ms"
        )
        if record:
            large, empty = (
                sum(cpu[f"{name}:{kind}"].get(role, 0.0) for role in ("gunicorn", "database"))
                for kind in ("large", "empty")
            )
            print(
                f"{name}: record of {args.patient_documents} documents vs none: gunicorn + its database backends' CPU "
                f"per upload {large:.2f} vs {empty:.2f} ms ({large / max(empty, 1e-9):.2f}x), uploads/s "
                f"{rate[f'{name}:large']:.1f} vs {rate[f'{name}:empty']:.1f}"
            )
    if args.baseline:
        base, new = "baseline", args.label
        for kind in ("upload", "floor", *(("empty", "large") if record else ())):
            b, n = cpu[f"{base}:{kind}"], cpu[f"{new}:{kind}"]
            print(
                f"{kind}: gunicorn CPU {b.get('gunicorn', 0):.2f} -> {n.get('gunicorn', 0):.2f} ms "
                f"({n.get('gunicorn', 0) / max(b.get('gunicorn', 0), 1e-9):.2f}x), all {b['all']:.2f} -> "
                f"{n['all']:.2f} ms, per second {rate[f'{base}:{kind}']:.1f} -> {rate[f'{new}:{kind}']:.1f}"
            )


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
