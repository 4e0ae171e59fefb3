"""The Celery application. Workers: `celery -A quill worker`; beat: `celery -A quill beat`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")

app = Celery("quill")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
