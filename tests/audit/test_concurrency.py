"""Eight OS processes appending to one organisation's chain leave a chain with no gaps or forks.

These tests commit (django_db(transaction=True)) so the child processes see the rows;
tests/conftest.py empties the audit table before the end-of-test flush.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AuditEvent, ChainHead
from apps.audit.verification import verify_chain
from tests import factories

WORKERS = 8
SECONDS = 4.0
WORKER_SCRIPT = Path(__file__).with_name("append_worker.py")


def _child_environment() -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "QUILL_DB_CONN_MAX_AGE": "0",
        "PYTHONPATH": str(settings.BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "quill.settings",
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_eight_processes_append_to_one_chain_without_gaps_or_forks():
    # given one organisation and a first event already in its chain
    organisation = factories.make_organisation("Busy Clinic")
    from apps.audit.services import audit_record

    audit_record(action="patient.viewed", organisation_id=organisation.pk)

    # when eight processes append as fast as they can for several seconds
    start_at = time.time() + 3.0  # time for each child to import Django
    children = [
        subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), str(organisation.pk), str(start_at), str(SECONDS), f"w{n}"],
            cwd=settings.BASE_DIR,
            env=_child_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * WORKERS, [err for _, err in outputs]
    appended = [int(out.strip()) for out, _ in outputs]

    # then every append is in the chain, in one unbroken sequence, and the chain verifies
    chain = str(organisation.pk)
    expected = 1 + sum(appended)
    assert all(count > 0 for count in appended), appended
    assert AuditEvent.objects.filter(chain=chain).count() == expected
    sequences = list(AuditEvent.objects.filter(chain=chain).order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, expected + 1))
    head = ChainHead.objects.get(chain=chain)
    assert head.sequence == expected
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert result.checked == expected

    # and the command, run as its own process against the same database, agrees (exit status 0)
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--organisation", chain],
        cwd=settings.BASE_DIR,
        env=_child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert f"{expected} events checked; head #{expected} {head.hash}" in verified.stdout


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_verify_audit_process_exits_non_zero_on_a_broken_chain():
    organisation = factories.make_organisation("Tampered Clinic")
    from apps.audit.services import audit_record

    events = [audit_record(action="patient.viewed", organisation_id=organisation.pk) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET action = 'test.forged' WHERE id = %s", [events[1].pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=settings.BASE_DIR,
        env=_child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert verified.returncode == 1
    assert f"event #2 (id {events[1].pk}) was changed after it was recorded" in verified.stderr
