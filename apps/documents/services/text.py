"""Reading a document's text for search after its clean scan, and recording it once.

The task (documents.extract_text) calls `document_extract_text`: it counts the attempt,
copies the original to a private folder (on the filesystem store it reads the stored file in
place: extraction never writes to it), reads its text (apps/files/extraction.py: the
PDF text layer, else OCR, which makes a searchable PDF/A), stores that PDF/A beside the
original, and records pages and state in one transaction that only a still-pending
document accepts. A worker killed on the way leaves the document `pending`; the task's
message is redelivered (acks_late) or the sweep queues it again, and the second run
records the text exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.documents.audit import audit_document
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document, Integrity, TextSettings, TextStatus
from apps.documents.search.index import index_remove_pages, index_replace_pages, stemming_config
from apps.files import storage
from apps.files.errors import OcrUnavailable, StorageUnavailable, StoredFileMissing, TextNotRead, TextUnsupported
from apps.files.extraction import EXTRACTABLE_TYPES, ExtractedText, ExtractionLimits, extract_text

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("organisation_id", "patient_id", "storage_key", "content_type", "text_status")


def extraction_limits() -> ExtractionLimits:
    return ExtractionLimits(
        page_timeout=settings.QUILL_OCR_PAGE_TIMEOUT_SECONDS,
        document_timeout=settings.QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS,
        max_pages=settings.QUILL_TEXT_MAX_PAGES,
        max_pixels=settings.QUILL_MAX_IMAGE_PIXELS,
        memory_mb=settings.QUILL_TEXT_MEMORY_LIMIT_MB,
    )


def organisation_ocr_languages(*, organisation_id: uuid.UUID) -> list[str]:
    """The organisation's OCR languages, else the installation's (QUILL_OCR_LANGUAGES, English)."""
    chosen = TextSettings.objects.filter(organisation_id=organisation_id).values_list("ocr_languages", flat=True)
    value = next(iter(chosen), "") or settings.QUILL_OCR_LANGUAGES
    return [code for code in value.split("+") if code] or ["eng"]


def document_begin_text(*, document_id: uuid.UUID | str) -> Document | None:
    """Count an attempt on an available document whose text is pending; None when there is nothing to do.

    The count is committed before the work starts, so a worker killed mid-OCR is counted too.
    """
    counted = Document.objects.filter(
        pk=document_id,
        text_status=TextStatus.PENDING,
        scan_status__in=AVAILABLE_SCAN_STATUSES,
        integrity=Integrity.OK,
        purged_at__isnull=True,
    ).update(text_attempts=F("text_attempts") + 1)
    if not counted:
        return None
    return Document.objects.only(*TEXT_FIELDS).filter(pk=document_id).first()


def documents_begin_text(*, document_ids: list[uuid.UUID]) -> list[Document]:
    """document_begin_text for many documents in three statements: lock those it applies to, count their attempts."""
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update()
            .only(*TEXT_FIELDS)
            .filter(
                pk__in=document_ids,
                text_status=TextStatus.PENDING,
                scan_status__in=AVAILABLE_SCAN_STATUSES,
                integrity=Integrity.OK,
                purged_at__isnull=True,
            )
        )
        Document.objects.filter(pk__in=[document.pk for document in documents]).update(
            text_attempts=F("text_attempts") + 1
        )
    return documents


def document_extract_text(*, document_id: uuid.UUID | str) -> str:
    """Read and record the text of one document; returns what happened (for the task's result).

    Raises StorageUnavailable (the task retries); every other failure is recorded on the document.
    """
    document = document_begin_text(document_id=document_id)
    if document is None:
        return "skipped"
    languages = organisation_ocr_languages(organisation_id=document.organisation_id)
    return _record(_read(document, languages))


@dataclass
class _Read:
    """One document's text as read (or why not), waiting to be recorded."""

    document: Document
    extracted: ExtractedText | None = None
    failure: TextNotRead | None = None
    language: str = ""
    rendition: tuple[str, str] | None = None


def _read(document: Document, languages: list[str]) -> _Read:
    """Read one begun document's text and store its PDF/A rendition; nothing recorded yet."""
    if document.content_type not in EXTRACTABLE_TYPES:
        return _Read(document, failure=TextUnsupported())
    with tempfile.TemporaryDirectory(prefix="quill-text-") as workdir:
        try:
            local = _local_original(document.storage_key, workdir)
        except FileNotFoundError:
            return _Read(document, failure=StoredFileMissing())
        try:
            extracted = extract_text(
                local,
                document.content_type,
                workdir=workdir,
                languages=languages,
                limits=extraction_limits(),
                ocr_mode=settings.QUILL_OCR,
            )
        except TextNotRead as failure:
            logger.warning(
                "text extraction failed",
                extra={"document_id": str(document.pk), "error_code": failure.error_code},
                exc_info=failure.__cause__ is not None,
            )
            return _Read(document, failure=failure)
        if extracted.child_peak_rss_kib:
            logger.info(
                "text extracted",
                extra={
                    "document_id": str(document.pk),
                    "method": extracted.method,
                    "pages": len(extracted.pages),
                    "child_peak_rss_kib": extracted.child_peak_rss_kib,
                },
            )
        rendition = _store_searchable_pdf(document, extracted)
    return _Read(document, extracted=extracted, language=stemming_config(languages), rendition=rendition)


def _record(read: _Read) -> str:
    """Record a read document's text or failure (only a still-pending document takes it); the outcome."""
    if isinstance(read.failure, TextUnsupported):
        return "no_text" if document_record_no_text(document=read.document, failure=read.failure) else "skipped"
    if read.failure is not None:
        document_record_text_failure(document=read.document, failure=read.failure)
        return "failed"
    assert read.extracted is not None
    recorded = document_record_text(
        document=read.document, extracted=read.extracted, language=read.language, rendition=read.rendition
    )
    return "skipped" if recorded is None else recorded.text_status


class TextReindex:
    """reindex_text's reading of many documents: each read as the worker reads it, with fewer commits.

    Documents are set back to pending and their attempts counted `batch` at a time in one
    transaction; their results (pages, state, audit event, each document as
    `document_record_text` records it) are recorded together in one transaction every `batch`
    documents or `flush_seconds`, whichever comes first. Call `read(id)` in the order of
    `document_ids`, then `flush()`. Killed between, the documents read but not recorded stay
    pending with no new pages, as after a killed worker, and are read again.
    """

    def __init__(self, document_ids: list[uuid.UUID], *, batch: int = 50, flush_seconds: float = 2.0) -> None:
        self._ids = list(document_ids)
        self._next = 0
        self._started: set[uuid.UUID] = set()
        self._begun: dict[uuid.UUID, Document] = {}
        self._reads: list[_Read] = []
        self._languages: dict[uuid.UUID, list[str]] = {}
        self._since: float | None = None
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.outcomes: dict[uuid.UUID, str] = {}

    def read(self, document_id: uuid.UUID) -> None:
        while document_id not in self._started and self._next < len(self._ids):
            self._begin_next()
        document = self._begun.pop(document_id, None)
        if document is None:
            self.outcomes[document_id] = "skipped"
            return
        if document.organisation_id not in self._languages:
            self._languages[document.organisation_id] = organisation_ocr_languages(
                organisation_id=document.organisation_id
            )
        try:
            self._reads.append(_read(document, self._languages[document.organisation_id]))
        except StorageUnavailable:
            self.flush()  # what was read is kept; this one stays pending
            raise
        self._since = self._since or time.monotonic()
        if len(self._reads) >= self.batch or time.monotonic() - self._since >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._reads:
            with transaction.atomic():
                for read in self._reads:
                    self.outcomes[read.document.pk] = _record(read)
        self._reads, self._since = [], None

    def _begin_next(self) -> None:
        chunk = self._ids[self._next : self._next + self.batch]
        self._next += len(chunk)
        with transaction.atomic():
            document_request_text(document_ids=chunk)
            for document in documents_begin_text(document_ids=chunk):
                self._begun[document.pk] = document
        self._started.update(chunk)


def _local_original(key: str, workdir: str) -> str:
    """A path to read the original from: the stored file itself on the filesystem store (extraction
    only reads it), else a copy in the private folder. FileNotFoundError when the object is missing."""
    path = storage.local_path(key)
    if path is not None:
        return path
    local = os.path.join(workdir, "original")
    with storage.open_reader(key) as reader, open(local, "wb") as sink:
        shutil.copyfileobj(reader, sink, storage.CHUNK_SIZE)
    return local


def _store_searchable_pdf(document: Document, extracted: ExtractedText) -> tuple[str, str] | None:
    """Put OCR's PDF/A beside the original (same key every time, so a retry overwrites its own)."""
    if extracted.searchable_pdf is None:
        return None
    digest = hashlib.sha256()
    with open(extracted.searchable_pdf, "rb") as handle:
        for chunk in iter(lambda: handle.read(storage.CHUNK_SIZE), b""):
            digest.update(chunk)
    key = storage.searchable_pdf_key(document.storage_key)
    storage.put_file(key=key, path=extracted.searchable_pdf, sha256=digest.hexdigest(), content_type="application/pdf")
    return key, digest.hexdigest()


def document_record_text(
    *, document: Document, extracted: ExtractedText, language: str, rendition: tuple[str, str] | None
) -> Document | None:
    """Index the pages and mark the document done (or no_text), once; None when it was no longer pending."""
    now = timezone.now()
    status = TextStatus.DONE if extracted.has_text else TextStatus.NO_TEXT
    with transaction.atomic():
        locked = (
            Document.objects.select_for_update()
            .only(*TEXT_FIELDS)
            .filter(pk=document.pk, text_status=TextStatus.PENDING)
            .first()
        )
        if locked is None:
            return None
        indexed = index_replace_pages(document_id=locked.pk, pages=extracted.pages, language=language)
        rendition_key, rendition_sha256 = rendition or ("", "")
        Document.objects.filter(pk=locked.pk).update(
            text_status=status,
            text_error_code=OcrUnavailable.error_code if OcrUnavailable.error_code in extracted.notes else "",
            text_error="",
            text_method=extracted.method,
            text_extracted_at=now,
            text_page_count=len(extracted.pages),
            text_rendition_key=rendition_key,
            text_rendition_sha256=rendition_sha256,
        )
        audit_document(
            Action.DOCUMENT_TEXT_EXTRACTED,
            document=locked,
            actor_username="system:text",
            # what was done, never the text itself
            details={
                "method": extracted.method,
                "pages": len(extracted.pages),
                "pages_with_text": indexed,
                "status": status,
                "searchable_pdf": bool(rendition_key),
            },
        )
    locked.text_status = status
    return locked


def document_record_no_text(*, document: Document, failure: TextNotRead) -> bool:
    return _record_terminal(document=document, status=TextStatus.NO_TEXT, failure=failure)


def document_record_text_failure(*, document: Document, failure: TextNotRead) -> bool:
    return _record_terminal(document=document, status=TextStatus.FAILED, failure=failure)


def _record_terminal(*, document: Document, status: str, failure: TextNotRead) -> bool:
    code = failure.error_code
    with transaction.atomic():
        moved = Document.objects.filter(pk=document.pk, text_status=TextStatus.PENDING).update(
            text_status=status,
            text_error_code=code[:32],
            text_error=failure.message[:300],
            text_extracted_at=timezone.now(),
        )
        if not moved:
            return False
        index_remove_pages(document_id=document.pk)
        audit_document(
            Action.DOCUMENT_TEXT_FAILED,
            document=document,
            actor_username="system:text",
            outcome=Outcome.ERROR if status == TextStatus.FAILED else Outcome.SUCCESS,
            details={"status": status, "error_code": code},
        )
    return True


def document_request_text(*, document_ids: list[uuid.UUID]) -> int:
    """Set documents' text back to pending so the task reads them again (reindex_text); returns how many.

    Their indexed pages stay searchable until the new text replaces them.
    """
    return Document.objects.filter(pk__in=document_ids).update(
        text_status=TextStatus.PENDING, text_error_code="", text_error=""
    )
