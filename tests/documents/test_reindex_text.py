"""manage.py reindex_text: backfill missing text, read everything again, dry run, organisation, failures."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document, DocumentPage, TextStatus
from apps.documents.services.text import TextReindex, document_extract_text
from tests.documents import samples, text_samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents(filesystem_storage, clinician, patient):
    read = stored_document(user=clinician, patient=patient, data=samples.pdf(2))
    assert document_extract_text(document_id=read.pk) == "done"
    waiting = stored_document(user=clinician, patient=patient, data=text_samples.text_pdf(["Warfarin clinic"] * 3))
    scan = stored_document(user=clinician, patient=patient, data=text_samples.scan_png("Lab"), filename="lab.png")
    return {"read": read, "waiting": waiting, "scan": scan}


def test_dry_run_counts_what_is_missing_and_changes_nothing(documents):
    result = run("reindex_text", "--dry-run")
    assert result.code == 0 and "DRY RUN: Would read the text of 2 document(s)." in result.out
    assert Document.objects.get(pk=documents["waiting"].pk).text_status == TextStatus.PENDING


def test_missing_reads_pending_and_failed_documents_and_reports_failures(documents):
    # OCR is off in tests unless asked for, so the scan fails with its reason (and exit status 1)
    result = run("reindex_text", "--missing")
    assert result.code == 1, result.out + result.err
    assert f"FAILED   document {documents['scan'].pk}: ocr_unavailable" in result.out
    assert "Read 2 document(s): 1 with text, 0 without, 1 failed, 0 skipped; 3 page(s)" in result.out
    assert "pages/s" in result.out
    assert DocumentPage.objects.filter(document=documents["waiting"]).count() == 3
    read_events = AuditEvent.objects.filter(action="document.text_extracted", object_id=str(documents["read"].pk))
    assert read_events.count() == 1  # already read: left alone


def test_all_reads_every_document_again(documents, organisation, other_organisation):
    assert run("reindex_text", "--all", "--organisation", str(other_organisation.pk)).out.startswith(
        "Read 0 document(s)"
    )
    result = run("reindex_text", "--all", "--organisation", str(organisation.pk))
    assert "Read 3 document(s): 2 with text, 0 without, 1 failed" in result.out
    read_events = AuditEvent.objects.filter(action="document.text_extracted", object_id=str(documents["read"].pk))
    assert read_events.count() == 2
    assert DocumentPage.objects.filter(document=documents["read"]).count() == 2


def test_an_unknown_organisation_is_refused(db):
    result = run("reindex_text", "--organisation", "not-a-uuid")
    assert result.code == 2 and "--organisation must be an organisation id" in result.err


def test_reindex_records_a_batch_at_a_time_and_a_document_read_but_not_recorded_stays_pending(
    filesystem_storage, clinician, patient
):
    # given three documents with a text layer, read in batches of two
    documents = [
        stored_document(user=clinician, patient=patient, data=text_samples.text_pdf([f"Warfarin letter {n}"] * 2))
        for n in range(3)
    ]
    reindex = TextReindex([document.pk for document in documents], batch=2, flush_seconds=3600)
    # when the first two are read, the batch is recorded; the third, read but not flushed, is still pending
    for document in documents:
        reindex.read(document.pk)
    states = dict(Document.objects.filter(pk__in=[d.pk for d in documents]).values_list("pk", "text_status"))
    assert [states[d.pk] for d in documents] == [TextStatus.DONE, TextStatus.DONE, TextStatus.PENDING]
    assert not DocumentPage.objects.filter(document=documents[2]).exists()
    assert Document.objects.get(pk=documents[2].pk).text_attempts == 1
    # then flushing records it, each document once, with its own audit event
    reindex.flush()
    assert reindex.outcomes == {d.pk: "done" for d in documents}
    for document in documents:
        assert DocumentPage.objects.filter(document=document).count() == 2
        events = AuditEvent.objects.filter(action="document.text_extracted", object_id=str(document.pk))
        assert events.count() == 1
