"""verify_audit and audit_head: a clean chain verifies; a changed, removed or reordered event is named."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import audit_record
from apps.audit.verification import verify_chain


@pytest.fixture
def chain(organisation):
    """Six events in one organisation's chain."""
    for n in range(6):
        audit_record(action="patient.viewed", organisation_id=organisation.pk, details={"n": n})
    return list(AuditEvent.objects.filter(chain=str(organisation.pk)).order_by("sequence"))


def tamper(sql: str, params: list) -> None:
    """Run SQL with the append-only triggers off, as a database owner could; then switch them back on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def run_verify(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except CommandError as failure:
        return out.getvalue(), failure
    return out.getvalue(), None


def test_clean_chains_verify_and_print_counts_and_heads(chain, organisation, other_organisation):
    audit_record(action="auth.login.failed")  # the platform chain
    audit_record(action="patient.viewed", organisation_id=other_organisation.pk)

    output, failure = run_verify()

    assert failure is None
    head = ChainHead.objects.get(chain=str(organisation.pk))
    assert f"{organisation.name} ({organisation.pk}): 6 events checked; head #6 {head.hash}" in output
    assert "platform: 1 events checked" in output
    assert "8 events checked in total." in output


def test_one_organisation_only(chain, organisation, other_organisation):
    audit_record(action="patient.viewed", organisation_id=other_organisation.pk)

    output, failure = run_verify("--organisation", str(organisation.pk))

    assert failure is None
    assert str(organisation.pk) in output and str(other_organisation.pk) not in output


def test_altered_details_are_named(chain):
    # given one event's details changed directly in the database
    victim = chain[2]
    tamper("UPDATE audit_auditevent SET details = %s WHERE id = %s", [json.dumps({"n": 99}), victim.pk])

    # when verifying
    output, failure = run_verify()

    # then the command fails, naming that event
    assert failure is not None and failure.returncode == 1
    assert f"event #3 (id {victim.pk}) was changed after it was recorded" in str(failure)
    assert "BROKEN" in output


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor_username", "someone-else@example.test"), ("occurred_at", "2001-01-01T00:00:00Z"), ("outcome", "denied")],
    ids=["actor", "time", "outcome"],
)
def test_any_altered_field_is_named(chain, column, value):
    victim = chain[4]
    tamper(f"UPDATE audit_auditevent SET {column} = %s WHERE id = %s", [value, victim.pk])  # noqa: S608 (fixed names)

    result = verify_chain(victim.chain)

    assert not result.ok
    assert (result.problem.sequence, result.problem.event_id) == (5, victim.pk)


def test_rewritten_event_with_recomputed_hash_breaks_the_next_link(chain):
    from apps.audit.hashing import HASHED_FIELDS, event_hash

    victim = chain[1]
    fields = {name: getattr(victim, name) for name in HASHED_FIELDS} | {"details": {"n": 42}}
    forged = event_hash(victim.prev_hash, fields)
    sql = "UPDATE audit_auditevent SET details = %s, hash = %s WHERE id = %s"
    tamper(sql, [json.dumps({"n": 42}), forged, victim.pk])

    result = verify_chain(victim.chain)

    assert (result.problem.sequence, result.problem.event_id) == (3, chain[2].pk)
    assert "does not follow the event before it" in result.problem.problem


def test_deleted_event_is_named(chain):
    victim = chain[3]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])

    _, failure = run_verify()

    assert failure is not None and failure.returncode == 1
    assert "event #4 is missing" in str(failure)
    assert f"(id {chain[4].pk})" in str(failure)


def test_deleted_last_event_is_named(chain):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [chain[-1].pk])

    _, failure = run_verify()

    assert failure is not None and "event #6 is missing" in str(failure)


def test_reordered_events_are_named(chain):
    # given events #2 and #3 swap places
    first, second = chain[1], chain[2]
    tamper("UPDATE audit_auditevent SET sequence = -1 WHERE id = %s", [first.pk])
    tamper("UPDATE audit_auditevent SET sequence = 2 WHERE id = %s", [second.pk])
    tamper("UPDATE audit_auditevent SET sequence = 3 WHERE id = %s", [first.pk])

    _, failure = run_verify()

    assert failure is not None and failure.returncode == 1
    assert f"event #2 (id {second.pk}) is out of place or altered" in str(failure)


def test_unknown_organisation_is_an_error(db):
    _, failure = run_verify("--organisation", "00000000-0000-0000-0000-000000000000")

    assert failure is not None and failure.returncode == 2


def test_audit_head_prints_each_chain(chain, organisation):
    audit_record(action="auth.login.failed")
    out = StringIO()

    call_command("audit_head", stdout=out)
    call_command("audit_head", "--json", stdout=(as_json := StringIO()))

    head = ChainHead.objects.get(chain=str(organisation.pk))
    assert f"{organisation.pk}\t#6\t{head.hash}\t{organisation.name}" in out.getvalue()
    assert "platform\t#1\t" in out.getvalue()
    chains = {row["chain"]: row for row in json.loads(as_json.getvalue())["chains"]}
    assert chains[str(organisation.pk)]["sequence"] == 6 and chains[str(organisation.pk)]["hash"] == head.hash


@pytest.mark.parametrize(
    "value",
    [1e20, 1e16, -0.0, 1.5e-7, 0.1, 2**70, "é\u2028", {"b": 1, "a": [1, 2.0]}, {1: "int key"}, ("a", 1)],
    ids=["1e20", "1e16", "minus-zero", "small", "tenth", "big-int", "unicode", "nested", "int-key", "tuple"],
)
def test_details_that_jsonb_rewrites_still_verify(organisation, value):
    # jsonb stores numbers as decimals and keys as strings; the hash must not depend on that
    audit_record(action="patient.viewed", organisation_id=organisation.pk, details={"value": value})

    result = verify_chain(str(organisation.pk))

    assert result.ok, result.problem


AWKWARD_DETAILS = [
    {},
    {"sequence": 0, "user_agent": "x"},  # the marker the link is built around, inside details
    {"note": 'he said "sequence":0,"user_agent": twice', "n": 1.0, "big": 1e20, "list": [1, "é", None]},
]


@pytest.mark.parametrize("details", AWKWARD_DETAILS, ids=["empty", "marker-keys", "quotes-floats-unicode"])
def test_links_computed_by_the_database_match_the_python_hash(db, organisation, details):
    from apps.audit.hashing import HASHED_FIELDS, canonical_json, canonical_json_around_sequence, event_hash

    first = audit_record(action="patient.viewed", organisation_id=organisation.pk, details=details)
    second = audit_record(
        action="patient.updated", organisation_id=organisation.pk, details=details, actor_username="é"
    )
    for event in (first, second):
        stored = AuditEvent.objects.get(pk=event.pk)
        fields = {name: getattr(stored, name) for name in HASHED_FIELDS}
        assert stored.hash == event.hash == event_hash(stored.prev_hash, fields)
        left, right = canonical_json_around_sequence(fields)
        assert left + str(stored.sequence) + right == canonical_json(fields)
    assert second.prev_hash == first.hash and second.sequence == first.sequence + 1
    assert ChainHead.objects.get(chain=str(organisation.pk)).hash == second.hash
