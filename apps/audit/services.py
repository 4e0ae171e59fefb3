"""Recording audit events.

`audit_record` appends one event to its organisation's chain inside the caller's
transaction: the chain head row is locked, so appends to one chain are serialised,
and the event commits or rolls back with the change it records.

The lock is held until the caller's transaction commits, so every database round
trip made while holding it delays every other append to the same chain (with 8
concurrent uploaders to one organisation this was a quarter of the upload's time).
Hence no savepoint around the append (an error inside it fails the caller's
transaction anyway), callers append last, just before they commit, and on
PostgreSQL the whole append is one statement: lock the head, compute the link in
the database (the hash cannot be computed before the head is known), insert the
event, move the head.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.hashing import canonical_json_around_sequence, event_hash
from apps.audit.models import PLATFORM_CHAIN, AuditEvent, ChainHead, Outcome
from quill import request_context


@dataclass
class _RequestDenials:
    """The route of the current request and the access.denied events recorded during it."""

    route: str = ""
    events: list[int] = field(default_factory=list)


# Set by the denial audit (apps/audit/middleware.py): every access.denied names the route it was
# refused on, and a refusal is recorded there only when nothing else recorded it. None outside a request.
_denials: contextvars.ContextVar[_RequestDenials | None] = contextvars.ContextVar("quill_denials", default=None)


def denials_begin() -> contextvars.Token:
    return _denials.set(_RequestDenials())


def denials_end(token: contextvars.Token) -> None:
    _denials.reset(token)


def denials_note_route(route: str) -> None:
    current = _denials.get()
    if current is not None:
        current.route = route


def denial_recorded() -> bool:
    """Whether an access.denied event of this request survived (one in a rolled-back transaction did not)."""
    current = _denials.get()
    return current is not None and bool(current.events) and AuditEvent.objects.filter(pk__in=current.events).exists()


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
    action: Action,
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
    action = Action(action)  # ValueError for anything outside the registry (apps/audit/actions.py)
    facts = request_context.current()
    if organisation_id is None and actor is not None:
        organisation_id = getattr(actor, "organisation_id", None)
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    username = actor_username or (getattr(actor, "email", "") if actor is not None else "")
    chain = chain_key(organisation_id)
    details = details or {}
    current = _denials.get()
    if current is not None and current.route and action == Action.ACCESS_DENIED:
        details = {**details, "route": details.get("route", current.route)}
    fields: dict[str, Any] = {
        "chain": chain,
        "sequence": None,  # the head's + 1, known under the lock
        "occurred_at": timezone.now(),
        "organisation_id": str(organisation_id) if organisation_id else None,
        "actor_id": actor_id,
        "actor_username": username[:254],
        "patient_id": str(patient_id) if patient_id else None,
        "action": action.value,
        "object_type": object_type,
        "object_id": str(object_id) if object_id not in (None, "") else "",
        "outcome": str(outcome),
        "ip": facts.ip,
        "user_agent": facts.user_agent,
        "request_id": facts.request_id,
        "details": details,
    }
    event = _append(chain, fields)
    if current is not None and action == Action.ACCESS_DENIED:
        current.events.append(event.pk)
    return event


def _append(chain: str, fields: dict[str, Any]) -> AuditEvent:
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            event = _append_in_one_statement(fields)
            if event is None:  # a chain's first event: its head row does not exist yet
                _lock_head(chain)
                event = _append_in_one_statement(fields)
            if event is None:
                raise RuntimeError(f"the audit chain head {chain!r} could not be created")
            return event
        head = _lock_head(chain)
        fields["sequence"] = head.sequence + 1
        digest = event_hash(head.hash, fields)
        event = AuditEvent(prev_hash=head.hash, hash=digest, **fields)
        event.save(force_insert=True)
        ChainHead.objects.filter(chain=chain).update(sequence=event.sequence, hash=digest)
    return event


def _append_in_one_statement(fields: dict[str, Any]) -> AuditEvent | None:
    """Lock the head, link the event to it, insert it and move the head: one round trip.

    The database computes the link, since only it knows the head under the lock:
    hash = sha256(prev_hash || canonical JSON), the JSON built here around the
    sequence number (``canonical_json_around_sequence``), exactly as ``event_hash``
    computes it for verification. None when the chain has no head row yet.
    """
    left, right = canonical_json_around_sequence(fields)
    columns = [
        field for field in AuditEvent._meta.concrete_fields
        if not field.primary_key and field.attname not in ("sequence", "prev_hash", "hash")
    ]  # fmt: skip
    quote = connection.ops.quote_name
    head_table, event_table = quote(ChainHead._meta.db_table), quote(AuditEvent._meta.db_table)
    event_pk = quote(str(AuditEvent._meta.pk.column))
    # Identifiers come from the models; every value is a parameter.
    sql = (
        f"WITH old AS (SELECT {quote('sequence')} AS seq, {quote('hash')} AS prev FROM {head_table} "  # noqa: S608
        f"WHERE {quote('chain')} = %s FOR UPDATE), "
        f"head AS (UPDATE {head_table} AS h SET {quote('sequence')} = old.seq + 1, "
        f"{quote('hash')} = encode(sha256(convert_to(old.prev || %s || (old.seq + 1)::text || %s, 'UTF8')), 'hex') "
        f"FROM old WHERE h.{quote('chain')} = %s "
        f"RETURNING h.{quote('sequence')} AS seq, old.prev AS prev, h.{quote('hash')} AS digest) "
        f"INSERT INTO {event_table} ({', '.join(quote(str(field.column)) for field in columns)}, "
        f"{quote('sequence')}, {quote('prev_hash')}, {quote('hash')}) "
        f"SELECT {', '.join(['%s'] * len(columns))}, head.seq, head.prev, head.digest FROM head "
        f"RETURNING {event_pk}, {quote('sequence')}, {quote('prev_hash')}, {quote('hash')}"
    )
    params = [fields["chain"], left, right, fields["chain"]]
    event = AuditEvent(**{name: value for name, value in fields.items() if name != "sequence"})
    params += [field.get_db_prep_save(getattr(event, field.attname), connection) for field in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    event.pk, event.sequence, event.prev_hash, event.hash = row
    event._state.adding = False
    event._state.db = connection.alias
    return event


def audit_denied(*, action: Action, actor: Any, reason: str, **kwargs: Any) -> AuditEvent:
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
