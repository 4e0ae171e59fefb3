"""Redis (the broker, and the API throttle's cache) is down while a document is uploaded.

The upload goes through gunicorn, whose environment points at a private redis-server that
the test stops and starts (the machine's shared Redis is never touched). The upload must
succeed with its row, object and audit event; the scan message is lost with Redis; once
Redis is back, the periodic sweep queues the scan and a real worker scans the document.
"""

from __future__ import annotations

import hashlib
import time

import pytest
import requests
from celery import Celery

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.faults.conftest import broker_env, filesystem_env, quill_env, wait_for
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _token(user) -> str:
    from apps.accounts.services import api_token_create

    return api_token_create(user=user, name="fault test")[1]


def test_upload_succeeds_while_redis_is_down_and_the_sweep_scans_it_later(
    settings, tmp_path, clamd_server, private_redis, gunicorn_factory, celery_worker_factory
):
    # given gunicorn and (later) a worker whose broker and cache are a private Redis
    files_dir = tmp_path / "documents"
    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    env = quill_env(
        **filesystem_env(files_dir),
        **broker_env(private_redis.url),
        **clamd_server.settings_env(),
        QUILL_SCAN_SWEEP_AFTER_SECONDS="1",
    )
    web = gunicorn_factory(env=env)
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    headers = {"Authorization": f"Token {_token(clinician)}"}
    data = samples.pdf(2)
    # when Redis is down during the upload
    private_redis.stop()
    started = time.monotonic()
    response = requests.post(
        f"{web.base_url}/api/documents/",
        headers=headers,
        data={"patient_id": str(patient.pk), "category": "lab"},
        files={"file": ("discharge.pdf", data, "application/pdf")},
        timeout=30,
    )
    elapsed = time.monotonic() - started
    # then it succeeds: row, object and audit event, and no long hang on the dead broker
    assert response.status_code == 201, response.text
    assert elapsed < 10, f"the upload waited {elapsed:.1f}s for Redis"
    document = Document.objects.get(pk=response.json()["id"])
    assert document.scan_status == ScanStatus.PENDING
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    with storage.open_reader(document.storage_key) as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == document.sha256
    assert AuditEvent.objects.filter(action="document.uploaded", object_id=str(document.pk)).count() == 1
    content = requests.get(f"{web.base_url}/api/documents/{document.pk}/content", headers=headers, timeout=10)
    assert content.status_code == 409, "never served before a clean scan"
    # and when Redis is back (empty: the queue died with it), nothing has queued the scan
    private_redis.start()
    worker = celery_worker_factory(env=env, queues=["quill"])
    assert private_redis.client().llen("quill") == 0
    time.sleep(1)
    document.refresh_from_db()
    assert document.scan_status == ScanStatus.PENDING and document.scan_attempts == 0
    # until beat's sweep runs (sent by name to the broker, exactly as beat sends it)
    # (not set as the current app: shared tasks would then publish through it in later tests)
    beat = Celery("fault-test-beat", broker=private_redis.url, set_as_current=False)
    try:
        beat.send_task("documents.sweep_pending_scans", queue="quill")
    finally:
        beat.close()
    # then the worker scans it: never skipped
    document = wait_for(
        lambda: Document.objects.filter(pk=document.pk, scan_status=ScanStatus.CLEAN).first(),
        timeout=30,
        what="the swept document scanned clean",
    )
    assert document.scan_attempts == 1
    assert AuditEvent.objects.filter(action="document.scanned", object_id=str(document.pk)).count() == 1
    served = requests.get(f"{web.base_url}/api/documents/{document.pk}/content", headers=headers, timeout=10)
    assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == document.sha256
    assert worker.is_running
