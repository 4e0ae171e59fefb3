"""Queueing Celery tasks without letting a broker outage fail the request.

Work queued here is always also found by a periodic sweep (pending scans,
due outbox messages), so a message lost while Redis is down is picked up
once it is back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any, countdown: float | None = None) -> bool:
    try:
        task.apply_async(
            args=args,
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        )
        return True
    except Exception:  # broker down: the sweep will queue it later
        logger.warning(
            "could not queue task; the periodic sweep will pick it up", extra={"task": task.name}, exc_info=True
        )
        return False


def enqueue_on_commit(task: Any, *args: Any) -> None:
    transaction.on_commit(lambda: enqueue(task, *args))
