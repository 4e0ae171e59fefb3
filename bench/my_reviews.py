"""'My reviews' (GET /api/reviews/) with 100,000 reviews in the organisation, vs the raw SQL of the same page.

In-process through Django's full stack (token auth, middleware, audit append); the raw
component is the page's two statements (count, first page) run with a cursor in the same
rounds. Seeds with one INSERT ... SELECT generate_series into `<bench db>_reviews`.
Target: p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import DATABASE_URL, base_env, percentile, setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--clinicians", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()

    url = os.environ.get("BENCH_REVIEWS_DATABASE_URL", DATABASE_URL + "_reviews")
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)  # a fresh seed each run
    setup_django(base_env(DATABASE_URL=url))

    from django.db import connection
    from rest_framework.test import APIClient

    from apps.accounts.models import User
    from apps.reviews.models import Review, Team
    from apps.reviews.selectors import reviews_waiting_for
    from bench.harness import make_fixture
    from tests.documents.helpers import document_row
    from tests.factories import make_user

    fixture = make_fixture("Review Bench Clinic")
    me = User.objects.get(pk=fixture.user_id)
    patient_model = me.organisation.patients.model  # type: ignore[union-attr]
    patient = patient_model.objects.get(pk=fixture.patient_id)
    documents = [document_row(patient, me, title=f"Letter {n}") for n in range(100)]
    colleagues = [me] + [make_user(me.organisation, ["clinician"]) for _ in range(args.clinicians - 1)]
    team = Team.objects.create(organisation_id=fixture.organisation_id, name="Duty doctors")
    team.members.add(me)

    started = time.monotonic()
    with connection.cursor() as cursor:
        # Every 20th review goes to the team, the rest round the clinicians; a third completed.
        cursor.execute(
            """
            INSERT INTO reviews_review (id, organisation_id, document_id, assignee_id, team_id, priority, due_date,
                note, assigned_by_id, assigned_at, state, outcome, outcome_text, completed_by_id, completed_at)
            SELECT gen_random_uuid(), %(org)s, (%(docs)s::uuid[])[1 + n %% 100],
                CASE WHEN n %% 20 = 0 THEN NULL ELSE (%(users)s::bigint[])[1 + n %% %(nusers)s] END,
                CASE WHEN n %% 20 = 0 THEN %(team)s ELSE NULL END,
                'routine', current_date + (n %% 60 - 20), '', %(me)s, now(),
                CASE WHEN n %% 3 = 0 THEN 'completed' ELSE 'open' END,
                CASE WHEN n %% 3 = 0 THEN 'no_action' ELSE '' END, '',
                CASE WHEN n %% 3 = 0 THEN %(me)s END, CASE WHEN n %% 3 = 0 THEN now() END
            FROM generate_series(1, %(count)s) AS n
            """,
            {
                "org": fixture.organisation_id,
                "docs": [str(d.pk) for d in documents],
                "users": [u.pk for u in colleagues],
                "nusers": len(colleagues),
                "team": team.pk,
                "me": me.pk,
                "count": args.reviews,
            },
        )
        cursor.execute("ANALYZE reviews_review")
    print(f"seeded {Review.objects.count():,} reviews in {time.monotonic() - started:.1f} s")

    waiting = reviews_waiting_for(me)
    count_sql, count_params = waiting.order_by().values("pk").query.sql_with_params()
    page_sql, page_params = waiting[:25].query.sql_with_params()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {fixture.token}")
    assert client.get("/api/reviews/").status_code == 200

    page_ms: list[float] = []
    raw_ms: list[float] = []
    for _ in range(args.samples):
        begin = time.perf_counter()
        response = client.get("/api/reviews/")
        page_ms.append((time.perf_counter() - begin) * 1000)
        assert response.status_code == 200
        begin = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({count_sql}) AS mine", count_params)  # noqa: S608 (our own SQL)
            cursor.fetchone()
            cursor.execute(page_sql, page_params)
            cursor.fetchall()
        raw_ms.append((time.perf_counter() - begin) * 1000)

    waiting_count = response.json()["count"]
    page_p95, raw_p95 = percentile(page_ms, 0.95), percentile(raw_ms, 0.95)
    print(f"my reviews: {waiting_count:,} waiting of {args.reviews:,} in the organisation, {args.samples} samples")
    print(f"GET /api/reviews/  p95 {page_p95:.1f} ms")
    print(f"raw SQL (count + page) p95 {raw_p95:.1f} ms")
    print(f"ratio page/raw {page_p95 / raw_p95:.1f}x; target p95 < 150 ms: {'met' if page_p95 < 150 else 'MISSED'}")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ANALYZE {page_sql}", page_params)
        print("\n".join(row[0] for row in cursor.fetchall()))
    return 0 if page_p95 < 150 else 1


if __name__ == "__main__":
    sys.exit(main())
