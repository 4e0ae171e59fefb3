"""A worker killed with SIGKILL in the middle of streaming a document to clamd.

The scan task is acks_late (and reject_on_worker_lost), so its message stays unacknowledged
in Redis; once the broker's visibility timeout passes, a new worker gets it again and the
document ends `clean` exactly once. The worker reaches the real clamd through a relay that
slows the first INSTREAM down, so the kill lands mid-stream every time.
"""

from __future__ import annotations

import io
import os
import time

import pytest
import requests
from PIL import Image

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from tests import factories
from tests.faults.conftest import broker_env, filesystem_env, quill_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT_SECONDS = 3


def noise_png(side: int = 2000) -> bytes:
    """About 12 MB of incompressible PNG: more than the kernel's socket buffers hold, so the worker
    is still writing when it dies; valid for the upload checks (4 megapixels)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_worker_killed_mid_scan_is_redelivered_and_scans_once(
    settings, tmp_path, clamd_server, private_redis, relay_factory, celery_worker_factory, gunicorn_factory
):
    # given gunicorn and a worker on a Redis of their own (nothing left over from other tests'
    # workers), a short visibility timeout, and clamd reached through a slow relay
    files_dir = tmp_path / "documents"
    from tests.services.storage import filesystem_settings

    for name, value in filesystem_settings(files_dir).items():
        setattr(settings, name, value)
    relay = relay_factory(clamd_server.socket_path)
    relay.throttle = 2 * 1024 * 1024  # bytes a second: the first INSTREAM would take ~6 s
    env = quill_env(
        **filesystem_env(files_dir),
        **broker_env(private_redis.url),
        QUILL_SCANNER="clamd",
        QUILL_CLAMD_SOCKET="",
        QUILL_CLAMD_HOST="127.0.0.1",
        QUILL_CLAMD_PORT=str(relay.port),
        QUILL_CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT_SECONDS),
    )
    worker = celery_worker_factory(env=env, queues=["quill"])
    web = gunicorn_factory(env=env)
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    from apps.accounts.services import api_token_create

    headers = {"Authorization": f"Token {api_token_create(user=clinician, name='fault test')[1]}"}
    # when a 12 MB scan is under way and the worker is killed mid-INSTREAM
    created = requests.post(
        f"{web.base_url}/api/documents/",
        headers=headers,
        data={"patient_id": str(patient.pk), "category": "photo"},
        files={"file": ("wound.png", noise_png())},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    wait_for(
        lambda: relay.connections and relay.connections[0].bytes_from_client > 1024 * 1024,
        timeout=60,
        what="the worker streaming the document to clamd",
    )
    worker.kill()
    relay.throttle = None  # let the relay drain what the dead worker left in the socket buffers
    first = relay.connections[0]
    assert first.done.wait(10)
    size = Document.objects.get(pk=document_id).size
    assert first.bytes_from_client < size, "the worker died before it had written the whole document"
    document = Document.objects.get(pk=document_id)
    assert document.scan_status == ScanStatus.PENDING and document.scan_attempts == 1
    # then a worker started after the visibility timeout gets the unacknowledged task again (kombu
    # restores overdue messages when a worker starts polling, and every so often after that)
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 1)
    worker.start()
    document = wait_for(
        lambda: Document.objects.filter(pk=document_id, scan_status=ScanStatus.CLEAN).first(),
        timeout=45,
        what="the redelivered scan",
    )
    assert document.scan_attempts == 2
    assert AuditEvent.objects.filter(action="document.scanned", object_id=document_id).count() == 1
    assert len(relay.connections) == 2 and relay.connections[1].bytes_to_client > 0
    assert requests.get(f"{web.base_url}/api/documents/{document_id}/content", headers=headers, timeout=60).ok
