"""Recording audit events.

`audit_record` appends one event to its organisation's chain inside the caller's
transaction: the chain head row is locked (SELECT ... FOR UPDATE), so appends to
one chain are serialised, and the event commits or rolls back with the change it
records.

The lock is held until the caller's transaction commits, so every database round
trip made while holding it delays every other append to the same chain (with 8
concurrent uploaders to one organisation this was a quarter of the upload's time).
Hence no savepoint around the append (an error inside it fails the caller's
transaction anyway), and on PostgreSQL the event insert and the head update go in
one statement.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.hashing import event_hash
from apps.audit.models import PLATFORM_CHAIN, AuditEvent, ChainHead, Outcome
from quill import request_context


def chain_key(organisation_id: uuid.UUID | str | None) -> str:
    return str(organisation_id) if organisation_id else PLATFORM_CHAIN


def _lock_head(chain: str) -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        ChainHead.objects.get_or_create(chain=chain)
        head = ChainHead.objects.select_for_update().get(chain=chain)
    return head


def audit_record(
    *,
    action: str,
    actor: Any = None,
    organisation_id: uuid.UUID | str | None = None,
    patient_id: uuid.UUID | str | None = None,
    object_type: str = "",
    object_id: Any = "",
    outcome: str = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event. `actor` is a User (or None for anonymous/system events)."""
    facts = request_context.current()
    if organisation_id is None and actor is not None:
        organisation_id = getattr(actor, "organisation_id", None)
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    username = actor_username or (getattr(actor, "email", "") if actor is not None else "")
    chain = chain_key(organisation_id)
    with transaction.atomic(savepoint=False):
        head = _lock_head(chain)
        fields: dict[str, Any] = {
            "chain": chain,
            "sequence": head.sequence + 1,
            "occurred_at": timezone.now(),
            "organisation_id": str(organisation_id) if organisation_id else None,
            "actor_id": actor_id,
            "actor_username": username[:254],
            "patient_id": str(patient_id) if patient_id else None,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id) if object_id not in (None, "") else "",
            "outcome": str(outcome),
            "ip": facts.ip,
            "user_agent": facts.user_agent,
            "request_id": facts.request_id,
            "details": details or {},
        }
        digest = event_hash(head.hash, fields)
        event = AuditEvent(prev_hash=head.hash, hash=digest, **fields)
        if connection.vendor == "postgresql":
            _insert_and_advance(event)
        else:
            event.save(force_insert=True)
            ChainHead.objects.filter(chain=chain).update(sequence=event.sequence, hash=digest)
    return event


def _insert_and_advance(event: AuditEvent) -> None:
    """INSERT the event and move the chain head to it in one round trip (the head row is locked)."""
    fields = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    # Identifiers come from the models; every value is a parameter.
    sql = (
        f"WITH event AS (INSERT INTO {quote(AuditEvent._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(AuditEvent._meta.pk.column)}) "
        f"UPDATE {quote(ChainHead._meta.db_table)} SET {quote('sequence')} = %s, {quote('hash')} = %s "
        f"WHERE {quote('chain')} = %s RETURNING (SELECT {quote(AuditEvent._meta.pk.column)} FROM event)"
    )
    params = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    params += [event.sequence, event.hash, event.chain]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (event.pk,) = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


def audit_denied(*, action: str, actor: Any, reason: str, **kwargs: Any) -> AuditEvent:
    """Record a refused access; a convenience over audit_record."""
    details = {"reason": reason, **kwargs.pop("details", {})}
    return audit_record(action=action, actor=actor, outcome=Outcome.DENIED, details=details, **kwargs)


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields that differ, as {"field": {"before": x, "after": y}} with JSON-safe values."""
    diff = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            diff[name] = {"before": _plain(old), "after": _plain(new)}
    return diff


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
