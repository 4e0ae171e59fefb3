"""What the seeded growth benchmarks share (``growth.py``, ``fhir_search.py``).

Both measure the same way: a database of their own, seeded with ``manage.py
seed_documents`` (COPY) to a small size, timed, grown to a large size in the same
organisation, timed again; queries counted in-process at two page sizes, the main reads
EXPLAINed, and one table comparing the phases' p50/p95 with the p95 ratio and the query
counts. Each script keeps only what it times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import harness as h


def recreate_database(url: str) -> None:
    """Drop and create the database at ``url`` and migrate it (a small phase needs a small table)."""
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


def seed(organisation_id: str | None, patients: int, documents: int) -> str:
    """Seed ``patients`` with ``documents`` (into a new organisation unless one is given); its id."""
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


def analyze(*tables: str) -> None:
    """Refresh the planner's statistics after a bulk load (autovacuum may not have got there yet)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')


def make_users(organisation_id: str) -> dict[str, str]:
    """API tokens of a clinician and an administrator of the organisation, by label."""
    from apps.accounts.models import Organisation
    from apps.accounts.services import api_token_create
    from tests.factories import make_user

    organisation = Organisation.objects.get(pk=organisation_id)
    tokens = {}
    for label, roles in (("clinician", ["clinician"]), ("admin", ["administrator"])):
        user = make_user(organisation, roles, email=f"{label}-{uuid.uuid4().hex[:8]}@bench.test")
        tokens[label] = api_token_create(user=user, name=f"bench {label}")[1]
    return tokens


def sample_patients(organisation_id: str, count: int) -> list[dict[str, str]]:
    """``count`` random patients of the organisation: id, family name and birth date."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, family_name, date_of_birth FROM patients_patient WHERE organisation_id = %s "
            "ORDER BY random() LIMIT %s",
            [organisation_id, count],
        )
        return [{"id": str(pk), "family": family, "birthdate": born.isoformat()} for pk, family, born in cursor]


@dataclass
class Phase:
    """One size of the tables: latencies (s) per request name, queries at the two page sizes, plans."""

    label: str
    latencies: dict[str, list[float]]
    counts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    plans: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def count_queries_and_explain(
    requests: dict[str, tuple[str, str]],
    *,
    page_param: Callable[[str], str],
    explained: Callable[[str, str], bool],
    sizes: Iterable[int] = (10, 100),
) -> tuple[dict[str, tuple[int, ...]], dict[str, list[tuple[str, str]]]]:
    """Queries per request (name -> (token, path)) at each page size, in-process, and the plans of its main reads.

    ``page_param(name)`` is the request's page-size parameter; ``explained(name, sql)`` picks
    the queries to EXPLAIN (ANALYZE, BUFFERS) from the last size's.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts, plans = {}, {}
    client = Client()
    for name, (token, path) in requests.items():
        per_size, captured = [], []
        for size in sizes:
            url = f"{path}{'&' if '?' in path else '?'}{page_param(name)}={size}"
            with CaptureQueriesContext(connection) as context:
                response = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
            per_size.append(len(context.captured_queries))
            captured = context.captured_queries
        counts[name] = tuple(per_size)
        plans[name] = []
        for query in captured:
            sql = query["sql"]
            if sql.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in sql and explained(name, sql):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                    plans[name].append((sql, "\n".join(row[0] for row in cursor.fetchall())))
    return counts, plans


def compare(
    title: str,
    first_column: str,
    small: Phase,
    large: Phase,
    *,
    target: float,
    informational: dict[str, str] | None = None,
) -> h.Table:
    """p50/p95 ms of each request at both sizes, the p95 ratio against ``target`` and the query counts.

    ``informational`` names requests not held to the target, with what to print instead of a verdict.
    """
    informational = informational or {}
    table = h.Table(
        title,
        [first_column, "p50 small", "p95 small", "p50 large", "p95 large", "p95 ratio", "queries small",
         "queries large", "target"],
    )  # fmt: skip
    for name, few in small.latencies.items():
        many = large.latencies[name]
        ratio = h.percentile(many, 0.95) / h.percentile(few, 0.95)
        small_counts, large_counts = small.counts.get(name, ()), large.counts.get(name, ())
        constant = len(set(small_counts) | set(large_counts)) <= 1
        verdict = informational.get(name) or h.verdict(ratio, target)
        table.add(
            name,
            1000 * h.percentile(few, 0.5),
            1000 * h.percentile(few, 0.95),
            1000 * h.percentile(many, 0.5),
            1000 * h.percentile(many, 0.95),
            f"{ratio:.2f}",
            "/".join(map(str, small_counts)) or "-",
            "/".join(map(str, large_counts)) or "-",
            verdict + ("" if constant else " queries vary"),
        )
    return table


def write_plans(path: str | Path, phases: Iterable[Phase], *, echo: bool = False) -> Path:
    """Every EXPLAIN of every phase into ``path`` (and to stdout with ``echo``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w") as out:
        for phase in phases:
            for name, plans in phase.plans.items():
                for sql, plan in plans:
                    text = f"===== {name} at {phase.label} documents\n{sql}\n\n{plan}\n\n"
                    out.write(text)
                    if echo:
                        print(text)
    return target
