"""A short run of bench/load.py's driver (8 clients, 10 s) against gunicorn with SeaweedFS and a
worker with clamd: no 5xx, every 201 document present, clean and downloadable with the sha256
of the bytes sent, and the audit chain verifies. The 60-second figures are in docs/performance.md."""

from __future__ import annotations

import importlib.util
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.faults.conftest import broker_env, quill_env
from tests.services.storage import s3_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 8
SECONDS = 10.0


def _load_driver():
    spec = importlib.util.spec_from_file_location("bench_load", "bench/load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_eight_clients_for_ten_seconds_lose_nothing(
    settings, s3_server, clamd_server, private_redis, celery_worker_factory, gunicorn_factory
):
    # given the whole stack on the test database
    for name, value in s3_settings(s3_server).items():
        setattr(settings, name, value)
    env = quill_env(**s3_server.settings_env(), **clamd_server.settings_env(), **broker_env(private_redis.url))
    celery_worker_factory(env=env, queues=["quill"])
    web = gunicorn_factory(env=env, workers=3, threads=4)
    load = _load_driver()
    clients = load.make_clients(CLIENTS)
    # when 8 clients upload, list and download for 10 seconds
    result = load.run_load(base_url=web.base_url, clients=clients, duration=SECONDS)
    load.verify_uploads(result, base_url=web.base_url, clients=clients, scan_timeout=90)
    summary = result.summary()
    print(load.format_table(summary))
    # then nothing failed and nothing was lost
    assert summary["server_errors"] == 0
    assert summary["kinds"].get("upload", {}).get("requests", 0) > 0 and result.uploaded
    assert result.problems == []
    out = StringIO()
    call_command("verify_audit", stdout=out)
