"""Read latency as the tables grow: 10,000 vs 1,000,000 documents (issue 9: p95 ratio <= 1.5, constant queries).

Uses its own database (``<bench database>_growth``, dropped and created afresh), so the
small phase really has a small table. Phase 1 seeds 1,000 patients
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
Seeding, query counting, plans and the comparison table are ``seeded.py``'s, shared with
``fhir_search.py``.

    .venv/bin/python bench/growth.py [--samples 200] [--large 1000000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import seeded

TARGET = 1.5
GROWTH_URL = h.DATABASE_URL + "_growth"


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
INFORMATIONAL = {"org unfiltered": "- (count grows)"}


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


def _main_read(name: str, sql: str) -> bool:
    """The endpoint's reads of its main table (count and page), for EXPLAIN."""
    table = '"audit_auditevent"' if name == "audit report" else '"documents_document"'
    return f"FROM {table}" in sql


def run_phase(label: str, env: dict, organisation_id: str, tokens: dict, samples: int) -> seeded.Phase:
    patients = [patient["id"] for patient in seeded.sample_patients(organisation_id, samples)]
    with h.Gunicorn(env, workers=2) as server:
        latencies = time_endpoints(server.port, tokens, patients)
    requests = {name: (tokens[who], path) for name, (who, path) in endpoints(patients[0]).items()}
    counts, plans = seeded.count_queries_and_explain(
        requests, page_param=lambda name: PAGE_PARAM.get(name, "page_size"), explained=_main_read
    )
    return seeded.Phase(label, latencies, counts, plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="patients timed per phase")
    parser.add_argument("--small", type=int, default=10_000, help="documents in phase 1 (10 per patient)")
    parser.add_argument("--large", type=int, default=1_000_000, help="documents in phase 2 (in total)")
    parser.add_argument("--plans", default=str(h.REPO_ROOT / "bench" / "results" / "growth_plans.txt"))
    args = parser.parse_args()
    random.seed(7)
    env = h.base_env(DATABASE_URL=GROWTH_URL)
    seeded.recreate_database(GROWTH_URL)
    h.setup_django(env)
    print(h.machine(), flush=True)
    organisation_id = seeded.seed(None, args.small // 10, args.small)
    tokens = seeded.make_users(organisation_id)
    small = run_phase(f"{args.small:,}", env, organisation_id, tokens, args.samples)
    seeded.seed(organisation_id, (args.large - args.small) // 10, args.large - args.small)
    large = run_phase(f"{args.large:,}", env, organisation_id, tokens, args.samples)

    seeded.compare(
        f"Growth: p50/p95 ms at {small.label} vs {large.label} documents ({args.samples} patients each, "
        "sequential); queries at page size 10/100",
        "endpoint",
        small,
        large,
        target=TARGET,
        informational=INFORMATIONAL,
    ).print()
    plans_path = seeded.write_plans(args.plans, (small, large))
    print(f"EXPLAIN (ANALYZE, BUFFERS) of each endpoint's queries on its main table: {plans_path}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
