"""The Celery application. Workers: `celery -A quill worker`; beat: `celery -A quill beat`."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")

app = Celery("quill")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: drop a connection that failed or outlived
    CONN_MAX_AGE and health-check the rest (CONN_HEALTH_CHECKS), so a worker keeps one connection open
    instead of opening one per task (Celery's own fixup closes it on every task unless CELERY_DB_REUSE_MAX).
    """
    if sender is None or getattr(sender.request, "is_eager", False):
        return  # an eager task runs inside the caller's request or transaction: leave its connection alone
    from django.db import close_old_connections

    close_old_connections()
