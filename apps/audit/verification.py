"""Verifying audit chains: recompute every hash and check the links, in sequence order.

One small function per check. A chain is walked with a streaming cursor
(`.iterator()`), so memory stays flat however long it is. The result names the
FIRST broken event: its chain, sequence number, id and what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from apps.audit.hashing import HASHED_FIELDS, event_hash
from apps.audit.models import GENESIS_HASH, PLATFORM_CHAIN, AuditEvent, ChainHead

CHUNK_SIZE = 2000


@dataclass(frozen=True)
class ChainProblem:
    """The first broken place in a chain. `event_id` is None when the event at `sequence` is missing."""

    chain: str
    sequence: int
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event #{self.sequence}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        return f"chain {self.chain}: {where} {self.problem}"


@dataclass(frozen=True)
class ChainResult:
    chain: str
    checked: int
    head_sequence: int
    head_hash: str
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _fields(event: AuditEvent) -> dict:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def _check_sequence(chain: str, event: AuditEvent, expected: int) -> ChainProblem | None:
    if event.sequence == expected:
        return None
    if event.sequence > expected:
        missing = f"#{expected}" if event.sequence == expected + 1 else f"#{expected} to #{event.sequence - 1}"
        return ChainProblem(
            chain,
            expected,
            None,
            f"is missing: the chain jumps from #{expected - 1} to #{event.sequence} (id {event.pk}); "
            f"event(s) {missing} were removed",
        )
    return ChainProblem(chain, event.sequence, event.pk, f"repeats sequence #{event.sequence} (chain forked)")


def _check_link_and_hash(chain: str, event: AuditEvent, prev_hash: str) -> ChainProblem | None:
    linked = event.prev_hash == prev_hash
    intact = event_hash(event.prev_hash, _fields(event)) == event.hash
    if linked and intact:
        return None
    if linked:
        return ChainProblem(
            chain, event.sequence, event.pk, "was changed after it was recorded: its contents no longer match its hash"
        )
    if intact:
        return ChainProblem(
            chain,
            event.sequence,
            event.pk,
            "does not follow the event before it (prev_hash does not match the previous event's hash): "
            "events were reordered, removed or rewritten before it, or the chain forked",
        )
    return ChainProblem(
        chain,
        event.sequence,
        event.pk,
        "is out of place or altered: neither its hash nor its link to the previous event match "
        "(its sequence number was changed, events were reordered, or it was rewritten)",
    )


def _check_head(chain: str, head: ChainHead | None, last_sequence: int, last_hash: str) -> ChainProblem | None:
    if head is None:
        if last_sequence == 0:
            return None
        return ChainProblem(chain, last_sequence, None, "ends a chain that has no chain head row")
    if head.sequence > last_sequence:
        return ChainProblem(
            chain,
            last_sequence + 1,
            None,
            f"is missing: the chain head says #{head.sequence} but the last event is #{last_sequence} "
            f"(events were removed from the end)",
        )
    if head.sequence < last_sequence:
        return ChainProblem(
            chain, head.sequence + 1, None, f"lies beyond the chain head (#{head.sequence}): events were added"
        )
    if head.hash != last_hash:
        return ChainProblem(chain, last_sequence, None, "does not match the chain head's hash")
    return None


def _walk(chain: str, head: ChainHead | None) -> ChainResult:
    expected, prev_hash, checked = 1, GENESIS_HASH, 0
    events = AuditEvent.objects.filter(chain=chain).order_by("sequence").iterator(chunk_size=CHUNK_SIZE)
    for event in events:
        problem = _check_sequence(chain, event, expected) or _check_link_and_hash(chain, event, prev_hash)
        if problem is not None:
            return ChainResult(chain, checked, head.sequence if head else 0, head.hash if head else "", problem)
        checked += 1
        expected, prev_hash = event.sequence + 1, event.hash
    problem = _check_head(chain, head, expected - 1, prev_hash)
    return ChainResult(chain, checked, head.sequence if head else 0, head.hash if head else GENESIS_HASH, problem)


def verify_chain(chain: str) -> ChainResult:
    """Verify one chain against a consistent snapshot (appends may continue meanwhile)."""
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head = ChainHead.objects.filter(chain=chain).first()
        return _walk(chain, head)


def chains_to_verify(organisation_id: str | None = None) -> list[str]:
    """Every chain with a head or an event (platform chain last), or one organisation's."""
    if organisation_id:
        return [str(organisation_id)]
    names = set(ChainHead.objects.values_list("chain", flat=True))
    names |= set(AuditEvent.objects.order_by().values_list("chain", flat=True).distinct())
    return sorted(names, key=lambda name: (name == PLATFORM_CHAIN, name))


def verify_chains(chains: Iterable[str]) -> list[ChainResult]:
    return [verify_chain(chain) for chain in chains]
