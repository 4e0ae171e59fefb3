"""verify_storage: re-hash every object; missing and mismatched mark documents corrupt; orphans; outages."""

from __future__ import annotations

import hashlib

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document, Integrity
from apps.files import storage
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents(any_storage, clinician, patient):
    return [stored_document(user=clinician, patient=patient, data=samples.pdf(pages)) for pages in (1, 2, 3)]


def _corrupt_events():
    return AuditEvent.objects.filter(action="document.integrity_failed")


def test_intact_store_passes(documents):
    result = run("verify_storage", "--organisation", str(documents[0].organisation_id))
    assert result.code == 0, result.out + result.err
    assert "Checked 3 document(s): 3 ok, 0 missing, 0 mismatched" in result.out
    assert not Document.objects.filter(integrity=Integrity.CORRUPT).exists()


def test_mismatch_and_missing_are_reported_marked_and_audited(documents):
    changed, removed, intact = documents
    storage.put_bytes(key=changed.storage_key, data=b"%PDF-1.7 not the bytes that were uploaded", content_type="x")
    storage.delete(removed.storage_key)

    result = run("verify_storage")

    assert result.code == 1
    assert f"MISMATCH           document {changed.pk}" in result.out
    assert f"MISSING            document {removed.pk}" in result.out
    assert "1 missing, 1 mismatched, 2 newly marked corrupt" in result.out
    states = dict(Document.objects.values_list("pk", "integrity"))
    assert states == {changed.pk: "corrupt", removed.pk: "corrupt", intact.pk: "ok"}
    assert {e.object_id for e in _corrupt_events()} == {str(changed.pk), str(removed.pk)}
    assert run("verify_storage").code == 1  # still reported on the next run, but audited only once
    assert _corrupt_events().count() == 2


def test_dry_run_reports_but_marks_nothing(documents):
    storage.delete(documents[0].storage_key)
    result = run("verify_storage", "--dry-run")
    assert result.code == 1
    assert result.out.startswith("MISSING") and "DRY RUN:" in result.out
    assert not Document.objects.filter(integrity=Integrity.CORRUPT).exists()
    assert not _corrupt_events().exists()


def test_sample_checks_only_that_many(documents):
    result = run("verify_storage", "--sample", "2", "--skip-orphans")
    assert result.code == 0
    assert "Checked 2 document(s)" in result.out and "orphans not checked" in result.out


def test_old_orphans_are_problems_recent_ones_are_not(documents, monkeypatch):
    orphan_key = f"{documents[0].organisation_id}/left-by-a-failed-upload.pdf"
    storage.put_bytes(key=orphan_key, data=b"orphan", content_type="application/pdf")

    recent = run("verify_storage", "--organisation", str(documents[0].organisation_id))
    assert recent.code == 0 and "1 recent (may be uploads in progress)" in recent.out

    from apps.operations import integrity

    real_now = integrity.now_epoch
    monkeypatch.setattr(integrity, "now_epoch", lambda: real_now() + 2 * 3600)
    later = run("verify_storage", "--organisation", str(documents[0].organisation_id))
    assert later.code == 1
    assert f"ORPHAN             {orphan_key} (6 bytes" in later.out
    assert "1 orphaned object(s) (6 bytes)" in later.out
    # Thumbnails and objects with rows are never orphans.
    assert documents[0].storage_key not in later.out


def test_filesystem_store_unreachable_marks_nothing(filesystem_storage, settings, clinician, patient, tmp_path):
    stored_document(user=clinician, patient=patient, data=samples.pdf())
    settings.QUILL_FILES_DIR = tmp_path / "unmounted"  # the volume is gone: every object would look missing

    result = run("verify_storage")

    assert result.code == 2
    assert "cannot be reached" in result.err and "Nothing was marked corrupt" in result.err
    assert not Document.objects.filter(integrity=Integrity.CORRUPT).exists()
    assert not _corrupt_events().exists()


def test_s3_outage_marks_nothing(s3_storage, clinician, patient):
    stored_document(user=clinician, patient=patient, data=samples.pdf())
    s3_storage.stop()

    result = run("verify_storage")

    assert result.code == 2
    assert "cannot be reached" in result.err
    assert not Document.objects.filter(integrity=Integrity.CORRUPT).exists()
    assert not _corrupt_events().exists()


def test_unknown_organisation_is_refused(db):
    assert run("verify_storage", "--organisation", "not-a-uuid").code == 2


def test_searchable_pdf_renditions_are_checked_and_never_mark_the_original_corrupt(
    filesystem_storage, clinician, patient
):
    # given two documents with a searchable PDF/A beside them (as OCR stores it), and one intact
    missing, changed, intact = (stored_document(user=clinician, patient=patient, data=samples.pdf(1)) for _ in range(3))
    rendition = samples.pdf(1, title="Searchable")
    for document in (missing, changed, intact):
        key = storage.searchable_pdf_key(document.storage_key)
        storage.put_bytes(key=key, data=rendition, content_type="application/pdf")
        Document.objects.filter(pk=document.pk).update(
            text_rendition_key=key, text_rendition_sha256=hashlib.sha256(rendition).hexdigest()
        )
    storage.delete(storage.searchable_pdf_key(missing.storage_key))
    storage.put_bytes(key=storage.searchable_pdf_key(changed.storage_key), data=b"%PDF-1.7 other", content_type="x")
    # when the store is verified
    result = run("verify_storage")
    # then both are problems, named, and no document is marked corrupt; the intact rendition is no orphan
    assert result.code == 1
    assert f"RENDITION_MISSING  document {missing.pk}" in result.out
    assert f"RENDITION_MISMATCH document {changed.pk}" in result.out
    assert "2 searchable PDF/A rendition(s) missing or mismatched (make them again with reindex_text)" in result.out
    assert "0 orphaned object(s)" in result.out
    assert not Document.objects.filter(integrity=Integrity.CORRUPT).exists()
