"""Celery queues: scans on the default queue; with a background queue set, thumbnails and outbox
relays go there, text extraction always has a queue of its own (OCR never holds up a scan), and a
worker started without -Q consumes them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.documents.models import Document
from tests import factories
from tests.documents import samples
from tests.documents.test_scanning import real_pipeline
from tests.services import REPO_ROOT

TASKS = ["documents.after_upload", "documents.scan_document", "documents.sweep_pending_scans"]
BACKGROUND_TASKS = ["documents.make_thumbnail", "outbox.relay_message", "outbox.relay_due"]
TEXT_TASKS = ["documents.extract_text"]


def _routes(**env: str) -> dict:
    """Where the Quill app routes each task, and which queues a worker without -Q consumes, for `env`."""
    script = (
        "import json, django; from quill.celery import app; django.setup(); "
        f"names = {TASKS + BACKGROUND_TASKS + TEXT_TASKS!r}; "
        "print(json.dumps({'routes': {n: app.amqp.router.route({}, n)['queue'].name for n in names}, "
        "'consumed': sorted(app.amqp.queues)}))"
    )
    merged = {
        **os.environ,
        "QUILL_CELERY_QUEUE": "quill",
        "QUILL_CELERY_BACKGROUND_QUEUE": "",
        "QUILL_CELERY_TEXT_QUEUE": "text",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=merged, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_without_a_background_queue_every_task_but_text_goes_to_the_default_queue():
    found = _routes()
    assert found == {
        "routes": {**dict.fromkeys(TASKS + BACKGROUND_TASKS, "quill"), **dict.fromkeys(TEXT_TASKS, "text")},
        "consumed": ["quill", "text"],
    }


def test_with_a_background_queue_only_scans_stay_on_the_default_queue():
    found = _routes(QUILL_CELERY_BACKGROUND_QUEUE="quill-background")
    assert found["routes"] == {
        **dict.fromkeys(TASKS, "quill"),
        **dict.fromkeys(BACKGROUND_TASKS, "quill-background"),
        **dict.fromkeys(TEXT_TASKS, "text"),
    }
    assert found["consumed"] == ["quill", "quill-background", "text"]


def test_without_a_text_queue_extraction_joins_the_default_queue():
    found = _routes(QUILL_CELERY_TEXT_QUEUE="")
    assert found == {"routes": dict.fromkeys(TASKS + BACKGROUND_TASKS + TEXT_TASKS, "quill"), "consumed": ["quill"]}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_without_queue_options_scans_and_makes_thumbnails_on_the_background_queue(
    settings, tmp_path, clamd_server, redis_url, celery_worker_factory
):
    # given thumbnails routed to a background queue and one worker started without -Q
    env = real_pipeline(settings, tmp_path, clamd_server, redis_url)
    background = f"{django_settings.CELERY_TASK_DEFAULT_QUEUE}-background"
    env["QUILL_CELERY_BACKGROUND_QUEUE"] = background
    worker = celery_worker_factory(env=env, queues=None)
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    # when a clean PDF is uploaded
    response = factories.token_client(clinician).post(
        "/api/documents/",
        {"file": SimpleUploadedFile("a.pdf", samples.pdf()), "patient_id": str(patient.pk), "category": "lab"},
        format="multipart",
    )
    assert response.status_code == 201
    # then the same worker scans it and makes its thumbnail from the background queue
    deadline = time.monotonic() + 60
    document = Document.objects.get(pk=response.json()["id"])
    while not document.thumbnail_key and time.monotonic() < deadline:
        time.sleep(0.2)
        document.refresh_from_db()
    assert document.scan_status == "clean"
    assert document.thumbnail_key, f"no thumbnail; see {worker.log_path}"
    assert f".> {background} " in worker.log_path.read_text()  # the worker's banner lists the queues it consumes
