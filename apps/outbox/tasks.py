"""Relaying outbox messages to external systems."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.outbox.errors import RetryableDelivery, TerminalDelivery
from apps.outbox.handlers import handler_for
from apps.outbox.models import MessageStatus, OutboxMessage
from apps.outbox.services import outbox_mark_dead, outbox_mark_done, outbox_mark_retry
from quill.queue import enqueue

logger = logging.getLogger(__name__)


@shared_task(name="outbox.relay_message", acks_late=True)
def relay_message(message_id: int) -> str:
    """Deliver one message if it is due. Safe to run twice: a row lock and the status decide."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=MessageStatus.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if message is None:
            return "skipped"
        handler = handler_for(message.target, message.kind)
        if handler is None:
            outbox_mark_dead(message=message, error=f"No handler for {message.target}/{message.kind}.")
            return "dead"
        try:
            response = handler(message)
        except RetryableDelivery as exc:
            outbox_mark_retry(message=message, error=str(exc), retry_after=exc.retry_after, response=exc.response)
            logger.warning("outbox delivery will be retried", extra={"message_id": message.pk, "error": str(exc)})
            if message.status == MessageStatus.PENDING:
                delay = max(0.0, (message.next_attempt_at - timezone.now()).total_seconds())
                transaction.on_commit(lambda: enqueue(relay_message, message.pk, countdown=delay))
            return message.status
        except TerminalDelivery as exc:
            outbox_mark_dead(message=message, error=str(exc), response=exc.response)
            logger.error("outbox delivery refused", extra={"message_id": message.pk, "error": str(exc)})
            return "dead"
        outbox_mark_done(message=message, response=response)
        return "done"


@shared_task(name="outbox.relay_due")
def relay_due(limit: int = 500) -> int:
    """Periodic sweep: queue every pending message whose time has come (covers lost queue messages)."""
    due = list(
        OutboxMessage.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        enqueue(relay_message, pk)
    return len(due)
