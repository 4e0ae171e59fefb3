"""FHIR search latency as the tables grow: 10,000 vs 1,000,000 documents (issue 17: constant queries, p95 ratio).

Seeds like ``growth.py``, with the same helpers (``seeded.py``: its own database ``<bench database>_fhir``, ``manage.py
seed_documents`` with COPY: 10 documents per patient, family names ``Patient0000`` to
``Patient9999``, birth dates over 90 years), then starts gunicorn and times, for
``--samples`` random patients, sequentially:

* ``GET /fhir/r4/DocumentReference?patient=<id>&creation=ge2018-01-01&_sort=-date``
* the second page of ``DocumentReference?patient=<id>&_sort=-date&_count=3`` (its ``next``
  link: a keyset cursor)
* ``GET /fhir/r4/Patient?family=<family>&birthdate=<date>`` (that patient's own)

Query counts are taken in-process at ``_count`` 10 and 100, and each query on
``documents_document`` or ``patients_patient`` is EXPLAINed (ANALYZE, BUFFERS); the plans
are printed and written to ``--plans`` (default bench/results/fhir_search_plans.txt).

    .venv/bin/python bench/fhir_search.py [--samples 200] [--large 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
import seeded

TARGET = 1.5
FHIR_URL = h.DATABASE_URL + "_fhir"


def searches(patient: dict[str, str]) -> dict[str, str]:
    return {
        "DocumentReference patient+creation, _sort=-date": (
            f"/fhir/r4/DocumentReference?patient={patient['id']}&creation=ge2018-01-01&_sort=-date"
        ),
        "Patient family+birthdate": f"/fhir/r4/Patient?family={patient['family']}&birthdate={patient['birthdate']}",
    }


NEXT_PAGE = "DocumentReference next page (cursor)"


def time_searches(port: int, token: str, patients: list[dict[str, str]]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {name: [] for name in [*searches(patients[0]), NEXT_PAGE]}
    for patient in patients[:10]:  # warm-up
        for path in searches(patient).values():
            h.api_get(port, token, path)
    for patient in patients:
        for name, path in searches(patient).items():
            started = time.perf_counter()
            status, body = h.api_get(port, token, path)
            latencies[name].append(time.perf_counter() - started)
            if status != 200:
                raise h.ApiError(f"{path} answered {status}: {body[:300]!r}")
            if name.startswith("DocumentReference"):
                # Every seeded patient has 10 documents: the second page of 3 always exists.
                first_page = f"/fhir/r4/DocumentReference?patient={patient['id']}&_sort=-date&_count=3"
                first = json.loads(h.api_get(port, token, first_page)[1])
                next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
                started = time.perf_counter()
                status, body = h.api_get(port, token, urlsplit(next_url)._replace(scheme="", netloc="").geturl())
                latencies[NEXT_PAGE].append(time.perf_counter() - started)
                if status != 200 or not json.loads(body).get("entry"):
                    raise h.ApiError(f"next page answered {status}: {body[:300]!r}")
    return latencies


def _main_read(name: str, sql: str) -> bool:
    return 'FROM "documents_document"' in sql or 'FROM "patients_patient"' in sql


def run_phase(label: str, env: dict, organisation_id: str, token: str, samples: int) -> seeded.Phase:
    patients = seeded.sample_patients(organisation_id, samples)
    with h.Gunicorn(env, workers=2) as server:
        latencies = time_searches(server.port, token, patients)
    requests = {name: (token, path) for name, path in searches(patients[0]).items()}
    counts, plans = seeded.count_queries_and_explain(requests, page_param=lambda name: "_count", explained=_main_read)
    return seeded.Phase(label, latencies, counts, plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="patients timed per phase")
    parser.add_argument("--small", type=int, default=10_000, help="documents in phase 1 (10 per patient)")
    parser.add_argument("--large", type=int, default=1_000_000, help="documents in phase 2 (in total)")
    parser.add_argument("--plans", default=str(h.REPO_ROOT / "bench" / "results" / "fhir_search_plans.txt"))
    args = parser.parse_args()
    random.seed(7)
    env = h.base_env(DATABASE_URL=FHIR_URL)
    seeded.recreate_database(FHIR_URL)
    h.setup_django(env)
    print(h.machine(), flush=True)
    organisation_id = seeded.seed(None, args.small // 10, args.small)
    token = seeded.make_users(organisation_id)["clinician"]
    small = run_phase(f"{args.small:,}", env, organisation_id, token, args.samples)
    seeded.seed(organisation_id, (args.large - args.small) // 10, args.large - args.small)
    seeded.analyze("documents_document", "patients_patient")
    large = run_phase(f"{args.large:,}", env, organisation_id, token, args.samples)

    seeded.compare(
        f"FHIR search: p50/p95 ms at {small.label} vs {large.label} documents ({args.samples} patients each, "
        "sequential); queries at _count 10/100",
        "search",
        small,
        large,
        target=TARGET,
    ).print()
    plans_path = seeded.write_plans(args.plans, (small, large), echo=True)
    print(f"EXPLAIN (ANALYZE, BUFFERS) written to {plans_path}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
