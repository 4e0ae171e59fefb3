"""Documents, their versions and annotations.

Each version of a document is one `Document` row; every version of the same
document shares `lineage_id` (the id of the first version), the newer one
`supersedes` the older, and only the current version has `is_current=True`.
Stored bytes are never overwritten: a new version is a new object.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.patients.models import Patient


class Category(models.TextChoices):
    LAB = "lab", "Lab report"
    IMAGING = "imaging", "Imaging"
    CLINICAL_NOTE = "clinical-note", "Clinical note"
    CONSENT = "consent", "Consent form"
    REFERRAL = "referral", "Referral"
    INSURANCE = "insurance", "Insurance"
    PHOTO = "photo", "Photograph"
    LETTER = "letter", "Letter"
    OTHER = "other", "Other"


class ScanStatus(models.TextChoices):
    PENDING = "pending", "Waiting for virus scan"
    CLEAN = "clean", "Clean"
    INFECTED = "infected", "Quarantined (virus found)"
    ERROR = "error", "Scan failed"
    NOT_SCANNED = "not_scanned", "Not scanned (scanner disabled)"


AVAILABLE_SCAN_STATUSES = (ScanStatus.CLEAN, ScanStatus.NOT_SCANNED)


class Integrity(models.TextChoices):
    OK = "ok", "Verified"
    CORRUPT = "corrupt", "Corrupt (stored bytes no longer match)"


class SyncState(models.TextChoices):
    NOT_CONFIGURED = "", "Not synced"
    PENDING = "pending", "Waiting to sync"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Sync failed"


class TextStatus(models.TextChoices):
    PENDING = "pending", "Text not read yet"
    DONE = "done", "Text read"
    NO_TEXT = "no_text", "No text found"
    FAILED = "failed", "Text could not be read"


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="documents")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="documents")
    encounter_id = models.CharField(max_length=64, blank=True)
    title = models.CharField(max_length=255)
    category = models.CharField(max_length=32, choices=Category.choices)
    document_date = models.DateField(help_text="The clinical date of the document.")
    document_date_given = models.BooleanField(
        default=True,
        help_text="Whether someone gave the clinical date; when not, document_date is the upload date and FHIR "
        "leaves the date out rather than present it as clinical.",
    )
    original_filename = models.CharField(max_length=255, help_text="Cleaned; for display only.")
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    sha1 = models.CharField(max_length=40)
    storage_key = models.CharField(max_length=300, unique=True)
    thumbnail_key = models.CharField(max_length=300, blank=True)

    scan_status = models.CharField(max_length=16, choices=ScanStatus.choices, default=ScanStatus.PENDING)
    scan_signature = models.CharField(max_length=200, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    scan_attempts = models.PositiveIntegerField(default=0)
    integrity = models.CharField(max_length=16, choices=Integrity.choices, default=Integrity.OK)
    integrity_checked_at = models.DateTimeField(null=True, blank=True)

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="uploaded_documents"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    lineage_id = models.UUIDField(db_index=True, help_text="Shared by every version of this document.")
    version_number = models.PositiveIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    is_current = models.BooleanField(default=True)
    sealed = models.BooleanField(
        default=False,
        help_text="The signed rendering of another record (a final letter's PDF): it changes only by amending "
        "that record, never through the document routes.",
    )

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deleted_reason = models.TextField(blank=True)
    retain_until = models.DateField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="Bytes removed; this row is the tombstone.")

    # Text extraction and OCR (apps/documents/services/text.py, docs/search.md). The searchable PDF/A
    # that OCR makes is a rendition beside the original; the original's bytes never change.
    text_status = models.CharField(max_length=16, choices=TextStatus.choices, default=TextStatus.PENDING)
    text_error_code = models.CharField(max_length=32, blank=True)
    text_error = models.CharField(max_length=300, blank=True, help_text="Why the text could not be read.")
    text_method = models.CharField(max_length=16, blank=True, help_text="text_layer or ocr")
    text_attempts = models.PositiveIntegerField(default=0)
    text_extracted_at = models.DateTimeField(null=True, blank=True)
    text_page_count = models.PositiveIntegerField(default=0)
    text_rendition_key = models.CharField(max_length=300, blank=True)
    text_rendition_sha256 = models.CharField(max_length=64, blank=True)

    fhir_id = models.CharField(max_length=64, blank=True)
    fhir_version_id = models.CharField(max_length=64, blank=True)
    fhir_sync_state = models.CharField(max_length=16, choices=SyncState.choices, blank=True, default="")
    fhir_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-document_date", "-uploaded_at"]
        indexes = [
            models.Index(
                fields=["organisation", "patient", "-document_date", "-uploaded_at"],
                name="document_patient_list",
                condition=Q(is_current=True, deleted_at__isnull=True),
            ),
            # The organisation-wide list (no patient) walks this in its ORDER BY and stops after the
            # page; purged_at and the trailing patient let its COUNT be an index-only scan (the
            # restricted-record rule needs patient_id).
            models.Index(
                fields=["organisation", "-document_date", "-uploaded_at", "-id", "patient"],
                name="document_organisation_list",
                condition=Q(is_current=True, deleted_at__isnull=True, purged_at__isnull=True),
            ),
            models.Index(fields=["organisation", "scan_status"], name="document_scan_status"),
            models.Index(fields=["organisation", "category", "-document_date"], name="document_category"),
            models.Index(fields=["organisation", "encounter_id"], name="document_encounter"),
            models.Index(fields=["organisation", "-updated_at"], name="document_updated"),
            models.Index(fields=["uploaded_at"], name="document_text_pending", condition=Q(text_status="pending")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lineage_id", "version_number"], name="document_version_unique"),
            models.UniqueConstraint(
                fields=["lineage_id"], condition=Q(is_current=True), name="document_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_available(self) -> bool:
        return (
            self.scan_status in AVAILABLE_SCAN_STATUSES
            and self.integrity == Integrity.OK
            and self.deleted_at is None
            and self.purged_at is None
        )


class DocumentPage(models.Model):
    """The text of one page of a document, as extraction read it, indexed for search.

    On PostgreSQL the two `tsvector` columns are filled from `text` when the page is written
    (`language` stemmed, and `simple` so codes, drug names and numbers match as typed) and
    carry GIN indexes; the embedded SQLite run keeps an FTS5 table beside this one instead.
    """

    id = models.BigAutoField(primary_key=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    page_number = models.PositiveIntegerField()
    text = models.TextField()
    language = models.CharField(max_length=32, default="english", help_text="The text search configuration.")
    search_stemmed = SearchVectorField(null=True)
    search_simple = SearchVectorField(null=True)

    # The document's access columns, copied onto its pages so that an organisation-wide search takes
    # its candidates from one index (organisation, category and the vector, with btree_gin) without
    # joining every visible document (docs/search.md, "Speed"). Written with the pages
    # (`index_replace_pages`) and kept equal to the document's by a trigger on documents_document
    # (migration 0008) whatever changes it: category edits, deletion and restore, a new version,
    # scan results and quarantine, integrity checks, purges. `searchable` is the document's state
    # rule: current version, not deleted or purged, scanned clean or not scanned, integrity intact.
    # The restricted-record rule depends on the caller, so it is applied at query time by patient.
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+", db_index=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.CharField(max_length=32, choices=Category.choices)
    document_date = models.DateField()
    searchable = models.BooleanField(default=False)

    class Meta:
        ordering = ["document", "page_number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "page_number"], name="document_page_unique"),
        ]
        indexes = [
            # A patient-scoped search walks that patient's few pages; organisation-wide ones use the
            # GIN indexes on (organisation, category, vector) that migration 0008 makes on PostgreSQL.
            models.Index(fields=["patient"], name="document_page_patient", condition=Q(searchable=True)),
        ]


class TextSettings(models.Model):
    """An organisation's OCR languages (Tesseract codes joined with "+", e.g. "eng+deu")."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="text_settings")
    ocr_languages = models.CharField(max_length=100, default="eng")

    class Meta:
        verbose_name = "text and OCR settings"
        verbose_name_plural = "text and OCR settings"

    def __str__(self) -> str:
        return f"OCR languages: {self.ocr_languages}"


class AnnotationKind(models.TextChoices):
    MARKER = "marker", "Marker"
    DRAWING = "drawing", "Freehand drawing"
    TEXT = "text", "Text note"
    HIGHLIGHT = "highlight", "Highlight"


class Annotation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="annotations")
    kind = models.CharField(max_length=16, choices=AnnotationKind.choices)
    page = models.PositiveIntegerField(default=1)
    geometry = models.JSONField(default=dict)
    text = models.TextField(blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["page", "created_at"]


class ErasureDecision(models.TextChoices):
    REFUSED = "refused", "Refused (retention or a legal hold applies)"
    ACCEPTED = "accepted", "Accepted (carried out by the next purge)"
    COMPLETED = "completed", "Carried out (documents purged)"


class ErasureRequest(models.Model):
    """A request to erase a patient's documents, and what was decided (retention can outweigh it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="erasure_requests")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="erasure_requests")
    requested_by = models.CharField(max_length=200, help_text="Who asked: the patient, or who acts for them.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=16, choices=ErasureDecision.choices)
    decided_at = models.DateTimeField(default=timezone.now)
    decision_reason = models.TextField()
    retention_ends = models.DateField(null=True, blank=True, help_text="When refused for retention: when it ends.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["organisation", "patient", "-received_at"], name="erasure_patient")]

    def __str__(self) -> str:
        return f"Erasure request for {self.patient_id} ({self.decision})"
