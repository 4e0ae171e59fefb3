"""Limits of text extraction on huge files: a 5,000-page PDF and a 30,000 × 30,000 image (issue 18).

Each ends within the limits with the right state and reason, and with bounded memory. Memory
is measured in a process of its own (tests/documents/extraction_probe.py: the kernel's peak
RSS of the process doing the worker's part, and of the largest child it started), so the
figures are not this test process's history. That another document's text is still read
while a huge one runs is tests/faults/test_text_limits_worker.py (a real worker).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.documents.models import Document, DocumentPage, TextStatus
from apps.documents.services.text import document_extract_text
from apps.files import storage
from tests.documents import text_samples
from tests.documents.helpers import document_row, stored_document

PROBE = Path(__file__).with_name("extraction_probe.py")
MiB = 1024  # ru_maxrss is in KiB
HUGE_PAGES = 5_000
HUGE_SIDE = 30_000
# What the worker's own process may grow by while reading a huge file (the rest is children's).
WORKER_GROWTH_LIMIT = 64 * MiB


def _probe(tmp_path: Path, data: bytes, content_type: str, **limits) -> dict:
    source = tmp_path / "original"
    source.write_bytes(data)
    workdir = tmp_path / "work"
    workdir.mkdir()
    request = {
        "path": str(source),
        "content_type": content_type,
        "workdir": str(workdir),
        "limits": {"page_timeout": 60.0, "document_timeout": 120.0, "max_pages": 20, **limits},
    }
    finished = subprocess.run(
        [sys.executable, str(PROBE), json.dumps(request)], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(finished.stdout)


def _stored_row(user, patient, data: bytes, content_type: str, filename: str) -> Document:
    """A document whose bytes are stored as they are (the upload's own checks would refuse a 30k × 30k image)."""
    document = document_row(patient, user)
    Document.objects.filter(pk=document.pk).update(
        content_type=content_type, original_filename=filename, size=len(data)
    )
    document.refresh_from_db()
    storage.put_bytes(
        key=document.storage_key, data=data, content_type=content_type, sha256=hashlib.sha256(data).hexdigest()
    )
    return document


# --- 5,000 pages ------------------------------------------------------------------------------------------


def test_a_5000_page_pdf_over_the_page_cap_fails_with_too_many_pages_before_any_ocr(
    filesystem_storage, ocr, clinician, patient, tmp_path
):
    # given a 5,000-page scan (tiny blank pages) and the page cap at 20
    data = text_samples.blank_pdf(HUGE_PAGES)
    document = stored_document(user=clinician, patient=patient, data=data, filename="huge.pdf")
    # when its text is read, then it fails on the cap, naming the count, with nothing indexed
    assert document_extract_text(document_id=document.pk) == "failed"
    document.refresh_from_db()
    assert document.text_status == TextStatus.FAILED and document.text_error_code == "too_many_pages"
    assert "5,000 pages" in document.text_error and not document.text_rendition_key
    assert not DocumentPage.objects.filter(document=document).exists()
    # and, measured on its own, no child process ran and the worker's part stayed small
    probed = _probe(tmp_path, data, "application/pdf", max_pages=20)
    assert probed["outcome"] == "too_many_pages"
    assert probed["children_peak_rss_kib"] == 0
    assert probed["self_peak_rss_kib"] - probed["baseline_rss_kib"] < WORKER_GROWTH_LIMIT


@pytest.mark.slow
def test_a_5000_page_scan_under_the_cap_is_stopped_at_the_document_time_limit_with_bounded_memory(tmp_path):
    # given a 5,000-page scan, a cap that lets it through and a document limit far shorter than its OCR
    data = text_samples.blank_pdf(HUGE_PAGES)
    # when it is read
    probed = _probe(tmp_path, data, "application/pdf", max_pages=10_000, document_timeout=15.0, memory_mb=1024)
    # then OCR was killed at the limit (with Tesseract and Ghostscript), and no process grew past the memory limit
    assert probed["outcome"] == "text_timeout", probed
    assert 0 < probed["children_peak_rss_kib"] < 1024 * MiB
    assert probed["self_peak_rss_kib"] - probed["baseline_rss_kib"] < WORKER_GROWTH_LIMIT


def test_a_5000_page_text_pdf_under_the_cap_is_read_page_by_page_with_bounded_memory(
    filesystem_storage, settings, clinician, patient, tmp_path
):
    # given a 5,000-page PDF with a line of text on every page, and a cap that lets it through
    settings.QUILL_TEXT_MAX_PAGES = 10_000
    data = text_samples.tiny_text_pdf(HUGE_PAGES)
    document = stored_document(user=clinician, patient=patient, data=data, filename="record.pdf")
    # when its text is read, then every page is indexed from the text layer, without OCR
    assert document_extract_text(document_id=document.pk) == "done"
    document.refresh_from_db()
    assert document.text_method == "text_layer" and document.text_page_count == HUGE_PAGES
    assert DocumentPage.objects.filter(document=document).count() == HUGE_PAGES
    assert "Page 5000 of" in DocumentPage.objects.get(document=document, page_number=HUGE_PAGES).text
    # and, measured on its own, the worker's part stayed small (one page open at a time)
    probed = _probe(tmp_path, data, "application/pdf", max_pages=10_000)
    assert probed["outcome"] == "done" and probed["pages"] == HUGE_PAGES
    assert probed["children_peak_rss_kib"] == 0
    assert probed["self_peak_rss_kib"] - probed["baseline_rss_kib"] < WORKER_GROWTH_LIMIT


def test_the_document_time_limit_covers_reading_the_text_layer(filesystem_storage, settings, clinician, patient):
    # given a 5,000-page text PDF and a document limit too short to read every page
    settings.QUILL_TEXT_MAX_PAGES = 10_000
    settings.QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS = 0.001
    data = text_samples.tiny_text_pdf(HUGE_PAGES)
    document = stored_document(user=clinician, patient=patient, data=data, filename="record.pdf")
    # then it fails on the time limit, with nothing indexed
    assert document_extract_text(document_id=document.pk) == "failed"
    document.refresh_from_db()
    assert document.text_status == TextStatus.FAILED and document.text_error_code == "text_timeout"
    assert not DocumentPage.objects.filter(document=document).exists()


# --- 30,000 × 30,000 pixels ---------------------------------------------------------------------------------


def test_a_30000_by_30000_image_fails_with_too_many_pixels_before_it_is_decoded(
    filesystem_storage, ocr, settings, clinician, patient, tmp_path
):
    # given a stored 30,000 × 30,000 PNG of one colour (small on disk, 900 million pixels decoded)
    data = text_samples.one_colour_png(HUGE_SIDE, HUGE_SIDE)
    assert len(data) < 2 * 1024 * 1024
    document = _stored_row(clinician, patient, data, "image/png", "photo.png")
    # when its text is read, then it fails on the pixel limit, naming the size
    assert document_extract_text(document_id=document.pk) == "failed"
    document.refresh_from_db()
    assert document.text_status == TextStatus.FAILED and document.text_error_code == "too_many_pixels"
    assert "30,000 × 30,000" in document.text_error
    assert not document.text_rendition_key and not DocumentPage.objects.filter(document=document).exists()
    # and, measured on its own, nothing was decoded (900 MB at one byte a pixel): the only child is
    # `tesseract --list-langs` asking whether OCR is available, and the worker did not grow
    probed = _probe(tmp_path, data, "image/png", max_pixels=settings.QUILL_MAX_IMAGE_PIXELS)
    assert probed["outcome"] == "too_many_pixels"
    assert probed["children_peak_rss_kib"] < 128 * MiB
    assert probed["self_peak_rss_kib"] - probed["baseline_rss_kib"] < WORKER_GROWTH_LIMIT


@pytest.mark.slow
def test_an_image_under_the_pixel_limit_but_over_the_memory_limit_fails_in_its_child_not_the_worker(tmp_path):
    # given a 13,000 × 13,000 image (169 million pixels, about 169 MB decoded), allowed by the pixel
    # limit, and a memory limit of 64 MB for each process extraction starts
    data = text_samples.one_colour_png(13_000, 13_000)
    # when it is read
    probed = _probe(tmp_path, data, "image/png", max_pixels=170_000_000, memory_mb=64)
    # then the child decoding it ran out of memory under its limit, and the worker's part never decoded it
    assert probed["outcome"] == "ocr_failed", probed
    assert "memory" in probed["message"]
    # (the limit is on data: the resident set adds the child's code, Python and Pillow, about 20 MB;
    # decoding would have taken 169 MB)
    assert 0 < probed["children_peak_rss_kib"] < (64 + 32) * MiB
    assert probed["self_peak_rss_kib"] - probed["baseline_rss_kib"] < WORKER_GROWTH_LIMIT
