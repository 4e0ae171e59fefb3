"""Reading documents' text after a clean scan: text layers, OCR to a PDF/A rendition, limits, states, once only."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pikepdf
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Document, DocumentPage, TextSettings, TextStatus
from apps.documents.services.text import document_extract_text, organisation_ocr_languages
from apps.documents.tasks import extract_text, scan_document, sweep_pending_text
from apps.files import storage
from tests.documents import samples, text_samples
from tests.documents.helpers import stored_document


def _pages(document: Document) -> list[tuple[int, str]]:
    return list(DocumentPage.objects.filter(document=document).values_list("page_number", "text"))


def test_a_clean_scan_queues_extraction_and_the_text_layer_is_read_page_by_page(
    filesystem_storage, scanner, eager_celery, clinician, patient
):
    # given a two-page PDF with a text layer, waiting for its virus scan
    data = text_samples.text_pdf(["Warfarin 5 mg daily\nINR target 2.5", "Review in anticoagulation clinic"])
    document = stored_document(user=clinician, patient=patient, data=data, clean=False)
    # when it scans clean (the worker then reads its text)
    assert scan_document(str(document.pk)) == "clean"
    # then each page's text is indexed, without OCR and without any rendition
    document.refresh_from_db()
    assert document.text_status == TextStatus.DONE and document.text_method == "text_layer"
    assert document.text_page_count == 2 and document.text_attempts == 1 and not document.text_rendition_key
    assert _pages(document) == [(1, "Warfarin 5 mg daily\nINR target 2.5"), (2, "Review in anticoagulation clinic")]
    event = AuditEvent.objects.get(action="document.text_extracted", object_id=str(document.pk))
    assert event.details == {
        "method": "text_layer",
        "pages": 2,
        "pages_with_text": 2,
        "status": "done",
        "searchable_pdf": False,
    }
    assert "arfarin" not in str(event.details)  # never the text itself


@pytest.mark.slow
def test_a_multi_page_tiff_scan_is_ocred_into_a_pdfa_rendition_and_the_original_never_changes(
    filesystem_storage, ocr, clinician, patient
):
    # given a scanned two-page letter (text rendered to the pages of a TIFF)
    data = text_samples.scan_tiff(["Referral for warfarin review", "NHS number 943 476 5919"])
    document = stored_document(user=clinician, patient=patient, data=data, filename="letter.tiff", category="referral")
    # when its text is read
    assert document_extract_text(document_id=document.pk) == "done"
    # then OCR read the words back page by page, and a searchable PDF/A sits beside the untouched original
    document.refresh_from_db()
    assert document.text_method == "ocr" and document.text_page_count == 2
    pages = dict(_pages(document))
    assert "warfarin" in pages[1] and "943 476 5919" in pages[2]
    assert document.text_rendition_key == storage.searchable_pdf_key(document.storage_key)
    rendition = storage.read_bytes(document.text_rendition_key)
    assert hashlib.sha256(rendition).hexdigest() == document.text_rendition_sha256
    with pikepdf.open(io.BytesIO(rendition)) as pdf:
        assert len(pdf.pages) == 2
        assert pdf.open_metadata().pdfa_status.startswith("2")
    assert storage.read_bytes(document.storage_key) == data
    assert hashlib.sha256(data).hexdigest() == document.sha256
    # and a second run (a redelivered message) changes nothing
    assert document_extract_text(document_id=document.pk) == "skipped"
    assert AuditEvent.objects.filter(action="document.text_extracted", object_id=str(document.pk)).count() == 1


def test_without_ocr_a_scan_fails_with_its_reason_and_a_text_layer_is_still_read(
    filesystem_storage, settings, clinician, patient
):
    settings.QUILL_OCR = "none"
    scan = stored_document(
        user=clinician, patient=patient, data=text_samples.scan_png("Lab result"), filename="lab.png"
    )
    assert document_extract_text(document_id=scan.pk) == "failed"
    scan.refresh_from_db()
    assert scan.text_status == TextStatus.FAILED and scan.text_error_code == "ocr_unavailable"
    assert "OCR" in scan.text_error and not _pages(scan)
    event = AuditEvent.objects.get(action="document.text_failed", object_id=str(scan.pk))
    assert event.outcome == "error" and event.details == {"status": "failed", "error_code": "ocr_unavailable"}
    typed = stored_document(user=clinician, patient=patient, data=samples.pdf(pages=1))
    assert document_extract_text(document_id=typed.pk) == "done"


@pytest.mark.parametrize(
    ("limit", "code"),
    [
        pytest.param({"QUILL_TEXT_MAX_PAGES": 2}, "too_many_pages", id="page-cap"),
        pytest.param({"QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS": 0.05}, "text_timeout", id="document-time-limit"),
    ],
)
def test_a_document_over_a_limit_fails_with_the_limit_named(
    filesystem_storage, ocr, settings, clinician, patient, limit, code
):
    # given three scanned pages and a limit they exceed (OCR is killed at the time limit)
    for name, value in limit.items():
        setattr(settings, name, value)
    data = text_samples.scanned_pdf(["one", "two", "three"])
    document = stored_document(user=clinician, patient=patient, data=data, filename="scan.pdf")
    assert document_extract_text(document_id=document.pk) == "failed"
    document.refresh_from_db()
    assert document.text_status == TextStatus.FAILED and document.text_error_code == code
    assert not document.text_rendition_key and not _pages(document)


def test_a_document_not_yet_clean_is_not_read(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert extract_text(str(document.pk)) == "skipped"
    document.refresh_from_db()
    assert document.text_status == TextStatus.PENDING and document.text_attempts == 0


def test_the_sweep_queues_documents_whose_text_is_still_pending(
    filesystem_storage, eager_celery, settings, clinician, patient
):
    # given a clean document whose extraction message was lost an hour ago
    settings.QUILL_TEXT_SWEEP_AFTER_SECONDS = 60
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(pages=1))
    Document.objects.filter(pk=document.pk).update(uploaded_at=timezone.now() - timedelta(hours=1))
    # when the sweep runs, then it queues it and the text is read
    assert sweep_pending_text() == 1
    document.refresh_from_db()
    assert document.text_status == TextStatus.DONE
    assert sweep_pending_text() == 0


def test_ocr_languages_are_the_organisations_else_english(organisation, settings):
    assert organisation_ocr_languages(organisation_id=organisation.pk) == ["eng"]
    TextSettings.objects.create(organisation=organisation, ocr_languages="deu+eng")
    assert organisation_ocr_languages(organisation_id=organisation.pk) == ["deu", "eng"]


def test_with_the_scanner_off_an_upload_is_read_for_search_too(
    filesystem_storage, eager_celery, settings, clinician, patient, django_capture_on_commit_callbacks
):
    # given the embedded run's setting: no virus scanner, documents available at once
    settings.QUILL_SCANNER = "none"
    data = text_samples.text_pdf(["Warfarin 5 mg daily"])
    # when a document is uploaded and its transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        document = stored_document(user=clinician, patient=patient, data=data, clean=False)
    # then its text is read, as after a clean scan (not left pending for a sweep the embedded run lacks)
    document.refresh_from_db()
    assert document.text_status == TextStatus.DONE
    assert _pages(document) == [(1, "Warfarin 5 mg daily")]
