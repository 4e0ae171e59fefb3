"""cleanup_orphans: only orphans, only older than the age given; --dry-run lists them."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.documents.models import Document
from apps.files import storage
from apps.operations import integrity
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def later(monkeypatch):
    """Move the command's clock forward (S3 cannot backdate an object's LastModified)."""
    real_now = integrity.now_epoch

    def move(hours: float) -> None:
        monkeypatch.setattr(integrity, "now_epoch", lambda: real_now() + hours * 3600)

    return move


@pytest.fixture
def document(any_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=samples.pdf())


def _scope(document) -> list[str]:
    # The SeaweedFS bucket is shared by the whole session: look only under this test's organisation.
    return ["--organisation", str(document.organisation_id)]


def _orphan(document, name: str) -> str:
    key = f"{document.organisation_id}/{document.patient_id}/documents/2020/01/{name}.pdf"
    storage.put_bytes(key=key, data=b"left behind", content_type="application/pdf")
    return key


def test_removes_old_orphans_and_nothing_with_a_row(document, later):
    orphan = _orphan(document, "failed-upload")
    later(25)

    result = run("cleanup_orphans", "--older-than", "24h", *_scope(document))

    assert result.code == 0, result.err
    assert f"removed {orphan} (11 bytes" in result.out
    assert not storage.exists(orphan)
    assert storage.exists(document.storage_key)
    assert "Removed 1 orphaned object(s) (11 bytes) older than 24h" in result.out


def test_a_documents_rendered_pages_are_not_orphans_until_it_is_purged(document, later):
    page = storage.rendition_key(document.storage_key, "r1-w1000-p1")
    storage.put_bytes(key=page, data=b"page", content_type="image/webp")
    stray = f"{document.organisation_id}/{document.patient_id}/documents/2020/01/{uuid.uuid4()}_pages/r1-w1000-p1.webp"
    storage.put_bytes(key=stray, data=b"page", content_type="image/webp")
    later(25)

    result = run("cleanup_orphans", "--older-than", "24h", *_scope(document))

    assert result.code == 0, result.err
    assert storage.exists(page) and not storage.exists(stray)
    Document.objects.filter(pk=document.pk).update(purged_at=timezone.now())
    run("cleanup_orphans", "--older-than", "24h", *_scope(document))
    assert not storage.exists(page)


def test_keeps_orphans_younger_than_the_age(document, later):
    orphan = _orphan(document, "recent")
    later(23)

    result = run("cleanup_orphans", "--older-than", "1d", *_scope(document))

    assert result.code == 0
    assert storage.exists(orphan)
    assert "Removed 0 orphaned object(s)" in result.out and "kept 1 younger orphan(s)" in result.out


def test_dry_run_lists_and_removes_nothing(document, later):
    orphan = _orphan(document, "listed")
    later(48)

    result = run("cleanup_orphans", "--older-than", "24h", "--dry-run", *_scope(document))

    assert result.code == 0
    assert f"would remove {orphan}" in result.out and "DRY RUN: Would remove 1" in result.out
    assert storage.exists(orphan)


def test_filesystem_age_is_the_file_time(filesystem_storage, clinician, patient):
    import os
    import time

    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    old, young = _orphan(document, "old"), _orphan(document, "young")
    two_days_ago = time.time() - 2 * 86400
    os.utime(filesystem_storage / old, (two_days_ago, two_days_ago))

    result = run("cleanup_orphans", "--older-than", "36h", *_scope(document))

    assert result.code == 0
    assert not storage.exists(old) and storage.exists(young) and storage.exists(document.storage_key)


@pytest.mark.parametrize("age", ["10m", "59m", "30s"], ids=["10m", "59m", "30s"])
def test_ages_under_an_hour_are_refused(filesystem_storage, age):
    result = run("cleanup_orphans", "--older-than", age)
    assert result.code == 2 and "at least 1h" in result.err


@pytest.mark.parametrize("age", ["2", "24x", "h"], ids=["no-unit", "bad-unit", "no-number"])
def test_malformed_ages_are_usage_errors(filesystem_storage, age):
    # manage.py turns this into argparse's exit 2; call_command raises it instead.
    with pytest.raises(CommandError, match="is not a duration such as 30m, 24h or 7d"):
        call_command("cleanup_orphans", "--older-than", age)


def test_store_unreachable_exits_2(filesystem_storage, settings, tmp_path):
    settings.QUILL_FILES_DIR = tmp_path / "not-mounted"
    result = run("cleanup_orphans")
    assert result.code == 2 and "cannot be reached" in result.err


def _unfinished_upload(document, name: str) -> str:
    """A multipart upload with one part sent and never completed (a server stopped mid-stream)."""
    client, bucket = storage._s3_client_and_bucket()
    key = f"{document.organisation_id}/{document.patient_id}/documents/2020/01/{name}.dcm"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part of a scan")
    return key


def _open_uploads(document) -> list[str]:
    return [upload.key for upload in storage.list_incomplete_uploads(f"{document.organisation_id}/")]


@pytest.fixture
def s3_document(s3_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=samples.pdf())


def test_aborts_unfinished_uploads_older_than_the_age(s3_document, later):
    key = _unfinished_upload(s3_document, "stopped-mid-stream")
    later(23)
    young = run("cleanup_orphans", "--older-than", "24h", *_scope(s3_document))
    assert young.code == 0, young.err
    assert _open_uploads(s3_document) == [key]

    later(25)
    dry = run("cleanup_orphans", "--older-than", "24h", "--dry-run", *_scope(s3_document))
    assert f"would abort unfinished upload of {key}" in dry.out
    assert _open_uploads(s3_document) == [key]

    result = run("cleanup_orphans", "--older-than", "24h", *_scope(s3_document))
    assert result.code == 0, result.err
    assert f"aborted unfinished upload of {key}" in result.out
    assert "Aborted 1 unfinished upload(s)." in result.out
    assert _open_uploads(s3_document) == []
    assert storage.exists(s3_document.storage_key)
