"""Read latency as the tables grow: 10,000 vs 1,000,000 documents (issue 9: p95 ratio <= 1.5, constant queries).

Uses its own database (``<bench database>_growth``, dropped and created afresh unless
``--keep``), so the small phase really has a small table. Phase 1 seeds 1,000 patients
with 10,000 documents (``manage.py seed_documents``, COPY, one audit event per document);
phase 2 adds 99,000 patients with 990,000 documents to the same organisation. Each phase
starts gunicorn and times, for ``--samples`` random patients, sequentially:

* the patient's document list  ``GET /api/documents/?patient_id=``
* the filtered list             ``GET /api/documents/?patient_id=&category=&date_from=``
* the organisation-wide filtered list ``GET /api/documents/?category=&date_from=&date_to=`` (no patient)
* the organisation-wide list without filters ``GET /api/documents/`` (no target: its count reads
  every visible document, so it is shown for what it costs, not held to the ratio)
* the FHIR search               ``GET /fhir/r4/DocumentReference?patient=``
* the audit access report       ``GET /api/audit/?patient_id=`` (administrator token)

Query counts are taken in-process (Django test client + CaptureQueriesContext) at two page
sizes, and each query on the endpoint's main table (count and page) is EXPLAINed
(ANALYZE, BUFFERS); the plans are written to ``--plans`` (default bench/results/growth_plans.txt).

    .venv/bin/python bench/growth.py [--samples 200] [--large 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TARGET = 1.5
GROWTH_URL = h.DATABASE_URL + "_growth"


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=h.REPO_ROOT,
        env={**os.environ, **h.base_env(DATABASE_URL=url)},
        check=True,
    )


def endpoints(patient_id: str) -> dict[str, tuple[str, str]]:
    """name -> (which token, path)."""
    return {
        "patient list": ("clinician", f"/api/documents/?patient_id={patient_id}"),
        "patient filtered": ("clinician", f"/api/documents/?patient_id={patient_id}&category=lab&date_from=2018-01-01"),
        "org filtered": ("clinician", "/api/documents/?category=lab&date_from=2024-01-01&date_to=2024-03-31"),
        "org unfiltered": ("clinician", "/api/documents/"),
        "FHIR search": ("clinician", f"/fhir/r4/DocumentReference?patient={patient_id}"),
        "audit report": ("admin", f"/api/audit/?patient_id={patient_id}"),
    }


PAGE_PARAM = {"FHIR search": "_count"}
# Not an issue-9 target: its COUNT reads every visible document of the organisation (an
# index-only scan), so it grows with the table; shown so that growth is visible.
INFORMATIONAL = {"org unfiltered"}


def seed(organisation_id: str | None, patients: int, documents: int) -> str:
    from django.core.management import call_command

    from apps.accounts.models import Organisation

    before = set(Organisation.objects.values_list("pk", flat=True))
    args = ["--patients", str(patients), "--documents", str(documents), "--verbosity", "0"]
    if organisation_id:
        args += ["--organisation", organisation_id]
    started = time.monotonic()
    call_command("seed_documents", *args)
    print(f"  seeded {patients} patients / {documents} documents in {time.monotonic() - started:.0f} s", flush=True)
    if organisation_id:
        return organisation_id
    (new,) = set(Organisation.objects.values_list("pk", flat=True)) - before
    return str(new)


def make_users(organisation_id: str) -> dict[str, str]:
    from apps.accounts.models import Organisation
    from apps.accounts.services import api_token_create
    from tests.factories import make_user

    organisation = Organisation.objects.get(pk=organisation_id)
    tokens = {}
    for label, roles in (("clinician", ["clinician"]), ("admin", ["administrator"])):
        user = make_user(organisation, roles, email=f"{label}-{uuid.uuid4().hex[:8]}@bench.test")
        tokens[label] = api_token_create(user=user, name=f"bench {label}")[1]
    return tokens


def sample_patients(organisation_id: str, count: int, rng: random.Random) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM patients_patient WHERE organisation_id = %s ORDER BY random() LIMIT %s",
            [organisation_id, count],
        )
        return [str(row[0]) for row in cursor.fetchall()]


def time_endpoints(port: int, tokens: dict[str, str], patients: list[str]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {name: [] for name in endpoints(patients[0])}
    for patient_id in patients[:10]:  # warm-up
        for who, path in endpoints(patient_id).values():
            h.api_get(port, tokens[who], path)
    for patient_id in patients:
        for name, (who, path) in endpoints(patient_id).items():
            started = time.perf_counter()
            status, body = h.api_get(port, tokens[who], path)
            latencies[name].append(time.perf_counter() - started)
            if status != 200:
                raise h.ApiError(f"{path} answered {status}: {body[:300]!r}")
    return latencies


def count_queries_and_explain(tokens: dict[str, str], patient_id: str) -> tuple[dict[str, tuple[int, int]], dict]:
    """Queries per request at two page sizes (in-process), and EXPLAIN of each request's slowest query."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts, plans = {}, {}
    client = Client()
    for name, (who, path) in endpoints(patient_id).items():
        per_size = []
        captured = None
        for size in (10, 100):
            param = PAGE_PARAM.get(name, "page_size")
            with CaptureQueriesContext(connection) as context:
                separator = "&" if "?" in path else "?"
                response = client.get(f"{path}{separator}{param}={size}", HTTP_AUTHORIZATION=f"Token {tokens[who]}")
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
            per_size.append(len(context.captured_queries))
            captured = context.captured_queries
        counts[name] = tuple(per_size)
        table = '"audit_auditevent"' if name == "audit report" else '"documents_document"'
        main_reads = [
            q
            for q in captured
            if q["sql"].lstrip().upper().startswith("SELECT")
            and f"FROM {table}" in q["sql"]
            and "FOR UPDATE" not in q["sql"]
        ]
        plans[name] = []
        for query in main_reads:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query["sql"])
                plans[name].append((query["sql"], "\n".join(row[0] for row in cursor.fetchall())))
    return counts, plans


def run_phase(label: str, env: dict, organisation_id: str, tokens: dict, samples: int, rng) -> dict:
    patients = sample_patients(organisation_id, samples, rng)
    with h.Gunicorn(env, workers=2) as server:
        latencies = time_endpoints(server.port, tokens, patients)
    counts, plans = count_queries_and_explain(tokens, patients[0])
    return {"label": label, "latencies": latencies, "counts": counts, "plans": plans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="patients timed per phase")
    parser.add_argument("--small", type=int, default=10_000, help="documents in phase 1 (10 per patient)")
    parser.add_argument("--large", type=int, default=1_000_000, help="documents in phase 2 (in total)")
    parser.add_argument("--plans", default=str(h.REPO_ROOT / "bench" / "results" / "growth_plans.txt"))
    parser.add_argument("--keep", action="store_true", help="reuse the growth database (skip recreate/seed 1)")
    args = parser.parse_args()
    rng = random.Random(7)
    env = h.base_env(DATABASE_URL=GROWTH_URL)
    recreate_database(GROWTH_URL)
    h.setup_django(env)
    print(h.machine(), flush=True)
    organisation_id = seed(None, args.small // 10, args.small)
    tokens = make_users(organisation_id)
    small = run_phase(f"{args.small:,}", env, organisation_id, tokens, args.samples, rng)
    seed(organisation_id, (args.large - args.small) // 10, args.large - args.small)
    large = run_phase(f"{args.large:,}", env, organisation_id, tokens, args.samples, rng)

    table = h.Table(
        f"Growth: p50/p95 ms at {small['label']} vs {large['label']} documents ({args.samples} patients each, "
        "sequential); queries at page size 10/100",
        ["endpoint", "p50 small", "p95 small", "p50 large", "p95 large", "p95 ratio", "queries small", "queries large",
         "target"],
    )  # fmt: skip
    for name in small["latencies"]:
        s, big = small["latencies"][name], large["latencies"][name]
        ratio = h.percentile(big, 0.95) / h.percentile(s, 0.95)
        constant = (
            small["counts"][name][0] == small["counts"][name][1] == large["counts"][name][0] == large["counts"][name][1]
        )
        table.add(
            name,
            1000 * h.percentile(s, 0.5),
            1000 * h.percentile(s, 0.95),
            1000 * h.percentile(big, 0.5),
            1000 * h.percentile(big, 0.95),
            f"{ratio:.2f}",
            "/".join(map(str, small["counts"][name])),
            "/".join(map(str, large["counts"][name])),
            ("- (count grows)" if name in INFORMATIONAL else h.verdict(ratio, TARGET))
            + ("" if constant else " queries vary"),
        )
    table.print()
    plans_path = Path(args.plans)
    plans_path.parent.mkdir(parents=True, exist_ok=True)
    with plans_path.open("w") as out:
        for phase in (small, large):
            for name, plans in phase["plans"].items():
                for sql, plan in plans:
                    out.write(f"===== {name} at {phase['label']} documents\n{sql}\n\n{plan}\n\n")
    print(f"EXPLAIN (ANALYZE, BUFFERS) of each endpoint's queries on its main table: {plans_path}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
