"""Fixtures the browser tests share."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings


@pytest.fixture
def scanning_worker(settings, tmp_path, clamd_server, redis_url, celery_worker_factory):
    """clamd for the live server and a real worker that scans and makes thumbnails (files in tmp_path/documents)."""
    settings.QUILL_SCANNER = "clamd"
    settings.QUILL_CLAMD_SOCKET = str(clamd_server.socket_path)
    assert redis_url == django_settings.CELERY_BROKER_URL, "run with QUILL_REDIS_URL=<redis_url> (make test)"
    database = django_settings.DATABASES["default"]
    env = {
        "DATABASE_URL": f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}",
        "QUILL_STORAGE": "filesystem",
        "QUILL_FILES_DIR": str(tmp_path / "documents"),
        "QUILL_SCANNER": "clamd",
        "QUILL_CLAMD_SOCKET": str(clamd_server.socket_path),
        "QUILL_REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "QUILL_CELERY_EAGER": "false",
        "QUILL_LOG_FORMAT": "text",
    }
    return celery_worker_factory(env=env, queues=[django_settings.CELERY_TASK_DEFAULT_QUEUE])
