"""The S3 server (SeaweedFS) stops while gunicorn serves Quill, then comes back.

During the outage: uploads (single and bulk) answer 503 and leave no row, no spooled file
and no object; downloads answer 503; nothing is marked corrupt; listing still works (it
needs only the database). After the restart everything works again with the same objects.
The in-process versions of the first checks are in tests/documents/test_upload_api.py and
test_download_api.py; this one goes through gunicorn and a restart.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from apps.audit.models import AuditEvent
from apps.documents.models import Document, Integrity, ScanStatus
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.faults.conftest import broker_env, quill_env
from tests.services.storage import s3_settings

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _post(web, headers, patient, name: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{web.base_url}/api/documents/",
        headers=headers,
        data={"patient_id": str(patient.pk), "category": "lab"},
        files={"file": (name, data)},
        timeout=30,
    )


def test_s3_outage_answers_503_loses_nothing_and_recovers(
    settings, tmp_path, s3_server, private_redis, gunicorn_factory
):
    # given gunicorn on SeaweedFS, and one clean document stored before the outage
    for name, value in s3_settings(s3_server).items():
        setattr(settings, name, value)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    web = gunicorn_factory(
        env=quill_env(
            **s3_server.settings_env(),
            **broker_env(private_redis.url),
            QUILL_SCANNER="clamd",
            QUILL_UPLOAD_TEMP_DIR=str(spool_dir),
        )
    )
    organisation = factories.make_organisation()
    clinician = factories.make_user(organisation, ["clinician"])
    patient = factories.make_patient(organisation)
    from apps.accounts.services import api_token_create

    headers = {"Authorization": f"Token {api_token_create(user=clinician, name='fault test')[1]}"}
    before = samples.pdf(2)
    created = _post(web, headers, patient, "before.pdf", before)
    assert created.status_code == 201, created.text
    kept_id = created.json()["id"]
    Document.objects.filter(pk=kept_id).update(scan_status=ScanStatus.CLEAN)  # as a worker would
    # when the S3 server stops
    s3_server.stop()
    # then uploads answer 503 and store nothing
    refused = _post(web, headers, patient, "during.pdf", samples.pdf(1))
    assert refused.status_code == 503, refused.text
    assert refused.json()["detail"]["error_code"] == "storage_unavailable"
    bulk = requests.post(
        f"{web.base_url}/api/documents/bulk/",
        headers=headers,
        data={"patient_id": str(patient.pk), "category": "lab"},
        files=[("files", ("a.pdf", samples.pdf(1))), ("files", ("b.png", samples.png()))],
        timeout=30,
    )
    assert bulk.status_code == 503, bulk.text
    assert Document.objects.filter(patient=patient).count() == 1
    assert os.listdir(spool_dir) == []
    # and downloads answer 503 without marking anything corrupt
    content = requests.get(f"{web.base_url}/api/documents/{kept_id}/content", headers=headers, timeout=30)
    assert content.status_code == 503
    assert content.json()["detail"]["error_code"] == "storage_unavailable"
    assert Document.objects.get(pk=kept_id).integrity == Integrity.OK
    assert not AuditEvent.objects.filter(action="document.integrity_failed").exists()
    listing = requests.get(
        f"{web.base_url}/api/documents/", headers=headers, params={"patient_id": str(patient.pk)}, timeout=30
    )
    assert listing.status_code == 200 and listing.json()["count"] == 1
    # when S3 is back (same data), everything works again
    s3_server.start()
    content = requests.get(f"{web.base_url}/api/documents/{kept_id}/content", headers=headers, timeout=30)
    assert content.status_code == 200
    assert hashlib.sha256(content.content).hexdigest() == hashlib.sha256(before).hexdigest()
    after = samples.png()
    accepted = _post(web, headers, patient, "after.png", after)
    assert accepted.status_code == 201, accepted.text
    document = Document.objects.get(pk=accepted.json()["id"])
    assert storage.stored_sha256(document.storage_key) == hashlib.sha256(after).hexdigest()
    assert Document.objects.filter(patient=patient).count() == 2
    assert Document.objects.get(pk=kept_id).integrity == Integrity.OK
