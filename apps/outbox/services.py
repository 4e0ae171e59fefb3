"""Writing outbox messages (in the caller's transaction) and the relay's bookkeeping."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.outbox.errors import RetryableDelivery, TerminalDelivery
from apps.outbox.handlers import handler_for
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from quill import secrets
from quill.queue import enqueue_on_commit

logger = logging.getLogger(__name__)


def fhir_enabled() -> bool:
    return bool(settings.QUILL_FHIR_BASE_URL)


def openehr_enabled() -> bool:
    return bool(settings.QUILL_EHRBASE_URL)


def outbox_enqueue(*, target: str, kind: str, object_id: str, organisation_id=None) -> OutboxMessage | None:
    """Announce a change to an external system, in the caller's transaction.

    A pending message for the same object is reused: the relay always sends the
    object's current state, so one pending message per object is enough.
    """
    if target == Target.FHIR and not fhir_enabled():
        return None
    if target == Target.OPENEHR and not openehr_enabled():
        return None
    existing = (
        OutboxMessage.objects.select_for_update()
        .filter(target=target, kind=kind, object_id=str(object_id), status=MessageStatus.PENDING)
        .first()
    )
    if existing is not None:
        return existing
    message = OutboxMessage.objects.create(
        target=target, kind=kind, object_id=str(object_id), organisation_id=organisation_id
    )
    from apps.outbox.tasks import relay_message

    # Through quill.queue: a broker outage must not fail the committed change (relay_due sweeps it up).
    enqueue_on_commit(relay_message, message.pk)
    return message


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than a server's Retry-After."""
    ceiling = min(settings.QUILL_OUTBOX_BACKOFF_MAX_SECONDS, settings.QUILL_OUTBOX_BACKOFF_BASE_SECONDS * 2**attempts)
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def outbox_mark_retry(
    *, message: OutboxMessage, error: str, retry_after: float | None = None, response: dict | None = None
) -> OutboxMessage:
    message.attempts += 1
    message.last_error = secrets.redact(error)[:4000]  # shown in the admin
    message.last_response = response
    if message.attempts >= settings.QUILL_OUTBOX_MAX_ATTEMPTS:
        message.status = MessageStatus.DEAD
    else:
        message.next_attempt_at = timezone.now() + timedelta(seconds=backoff_seconds(message.attempts, retry_after))
    message.save(update_fields=["attempts", "last_error", "last_response", "status", "next_attempt_at", "updated_at"])
    return message


def outbox_mark_dead(*, message: OutboxMessage, error: str, response: dict | None = None) -> OutboxMessage:
    message.attempts += 1
    message.status = MessageStatus.DEAD
    message.last_error = secrets.redact(error)[:4000]  # shown in the admin
    message.last_response = response
    message.save(update_fields=["attempts", "status", "last_error", "last_response", "updated_at"])
    return message


def outbox_mark_done(*, message: OutboxMessage, response: dict | None = None) -> OutboxMessage:
    message.attempts += 1
    message.status = MessageStatus.DONE
    message.delivered_at = timezone.now()
    message.last_error = ""
    message.last_response = response
    message.save(update_fields=["attempts", "status", "delivered_at", "last_error", "last_response", "updated_at"])
    return message


def outbox_requeue(*, messages) -> int:
    """Give dead or pending messages a fresh start (resync commands)."""
    ids = list(messages.values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).update(
        status=MessageStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    from apps.outbox.tasks import relay_message

    for pk in ids:
        enqueue_on_commit(relay_message, pk)
    return len(ids)


@dataclass(frozen=True)
class Delivery:
    """What one relay attempt did; ``retry_in`` (seconds) when the message stays pending for a retry."""

    status: str
    retry_in: float | None = None


def outbox_deliver(*, message_id: int) -> Delivery:
    """Hand one due message to its handler, under a row lock, and record the outcome."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=MessageStatus.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if message is None:
            return Delivery("skipped")
        handler = handler_for(message.target, message.kind)
        if handler is None:
            outbox_mark_dead(message=message, error=f"No handler for {message.target}/{message.kind}.")
            return Delivery("dead")
        try:
            response = handler(message)
        except RetryableDelivery as exc:
            outbox_mark_retry(message=message, error=str(exc), retry_after=exc.retry_after, response=exc.response)
            logger.warning("outbox delivery will be retried", extra={"message_id": message.pk, "error": str(exc)})
            if message.status != MessageStatus.PENDING:
                return Delivery(message.status)
            return Delivery(message.status, max(0.0, (message.next_attempt_at - timezone.now()).total_seconds()))
        except TerminalDelivery as exc:
            outbox_mark_dead(message=message, error=str(exc), response=exc.response)
            logger.error("outbox delivery refused", extra={"message_id": message.pk, "error": str(exc)})
            return Delivery("dead")
        outbox_mark_done(message=message, response=response)
        return Delivery("done")


def outbox_due_ids(*, limit: int = 500) -> list[int]:
    """Pending messages whose time has come, oldest first."""
    return list(
        OutboxMessage.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
