"""Relaying outbox messages to external systems: thin tasks over apps.outbox.services."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from apps.outbox.services import outbox_deliver, outbox_due_ids
from quill.queue import enqueue


@shared_task(name="outbox.relay_message", acks_late=True)
def relay_message(message_id: int) -> str:
    """Deliver one message if it is due. Safe to run twice: a row lock and the status decide."""
    delivery = outbox_deliver(message_id=message_id)
    retry_in = delivery.retry_in
    if retry_in is not None:
        # After commit, as the retry's own bookkeeping is: a caller's open transaction may still roll it back.
        transaction.on_commit(lambda: enqueue(relay_message, message_id, countdown=retry_in))
    return delivery.status


@shared_task(name="outbox.relay_due")
def relay_due(limit: int = 500) -> int:
    """Periodic sweep: queue every pending message whose time has come (covers lost queue messages)."""
    due = outbox_due_ids(limit=limit)
    for pk in due:
        enqueue(relay_message, pk)
    return len(due)
