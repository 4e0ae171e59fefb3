"""A throwaway Celery app that proves the worker harness works without Quill's Django settings.

Broker and result backend come from QUILL_PROBE_REDIS_URL (the `redis_url` fixture).
Only tests/test_services_harness.py uses it.
"""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("quill_probe")
app.conf.update(
    broker_url=os.environ.get("QUILL_PROBE_REDIS_URL", "redis://127.0.0.1:6379/15"),
    result_backend=os.environ.get("QUILL_PROBE_REDIS_URL", "redis://127.0.0.1:6379/15"),
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=300,
)


@app.task(name="probe.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="probe.worker_pid")
def worker_pid() -> int:
    return os.getpid()


@app.task(name="probe.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
