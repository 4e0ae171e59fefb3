"""Incoming documents: where they come from (sources), what arrived (items, mail messages).

An ``InboxItem`` is one file that reached an organisation from outside, before anyone
filed it to a patient. Its bytes are stored (under ``{organisation}/inbox/...``) and
virus-scanned exactly as an upload's; a refused file keeps its row (reason and
provenance) but no bytes, and a byte-identical copy of an earlier item is flagged as
a duplicate and not stored twice. ``source_identity`` makes ingest idempotent.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.documents.models import Category, Document, ScanStatus


class SourceKind(models.TextChoices):
    FOLDER = "folder", "Watched folder"
    IMAP = "imap", "IMAP mailbox"
    API = "api", "API"


class IntakeSource(models.Model):
    """One way documents reach an organisation's inbox, configured by its administrators.

    The IMAP password is never stored: ``imap_password_file`` names a secrets file
    (``*_FILE`` convention) the intake process reads when it connects.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="intake_sources")
    name = models.CharField(max_length=100, help_text="Shown on each item, e.g. 'Reception scanner'.")
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    enabled = models.BooleanField(default=True)
    default_category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    default_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    folder_path = models.CharField(
        max_length=500, blank=True, help_text="Watched folder: the directory the scanner or fax server writes to."
    )
    imap_host = models.CharField("IMAP host", max_length=255, blank=True)
    imap_port = models.PositiveIntegerField("IMAP port", default=993)
    imap_username = models.CharField("IMAP user name", max_length=255, blank=True)
    imap_password_file = models.CharField(
        "IMAP password file",
        max_length=500,
        blank=True,
        help_text="Path of a file holding the password (a mounted secret); the password itself is never stored.",
    )
    imap_folder = models.CharField("IMAP folder", max_length=255, default="INBOX")
    imap_processed_folder = models.CharField("IMAP processed folder", max_length=255, default="Quill/Processed")
    imap_tls = models.BooleanField(
        "IMAP over TLS", default=True, help_text="Turn off only for a mail server on this machine (loopback)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("organisation", "name")
        constraints = [models.UniqueConstraint(fields=("organisation", "name"), name="inbox_source_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        from apps.inbox.sources.checks import source_problems

        problems = source_problems(self)
        if problems:
            raise ValidationError(problems)


class InboxSettings(models.Model):
    """Per-organisation inbox switches (one row, made on first use)."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="inbox_settings")
    auto_file = models.BooleanField(
        default=False,
        help_text="File an item without a person only on an exact NHS number plus date-of-birth match.",
    )
    rejected_keep_days = models.PositiveIntegerField(default=30)

    class Meta:
        verbose_name_plural = "inbox settings"


class MailMessage(models.Model):
    """An email as received (the ``.eml`` kept as provenance), linked to the items made from it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    source = models.ForeignKey(IntakeSource, on_delete=models.PROTECT, related_name="mail_messages")
    uidvalidity = models.BigIntegerField()
    uid = models.BigIntegerField()
    message_id = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    storage_key = models.CharField(max_length=300, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("source", "uidvalidity", "uid"), name="inbox_mail_unique_uid"),
        ]


class ItemState(models.TextChoices):
    SCANNING = "scanning", "Waiting for virus scan"
    READY = "ready", "Ready to file"
    REFUSED = "refused", "Refused"
    INFECTED = "infected", "Quarantined (virus found)"
    DUPLICATE = "duplicate", "Duplicate"
    FILED = "filed", "Filed"
    REJECTED = "rejected", "Rejected"
    MERGED = "merged", "Merged into another item"


OPEN_STATES = (ItemState.SCANNING, ItemState.READY)


class InboxItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="inbox_items")
    source = models.ForeignKey(IntakeSource, on_delete=models.PROTECT, related_name="items")
    source_identity = models.CharField(
        max_length=700, help_text="What makes this item unique at its source; ingest is idempotent on it."
    )
    mail_message = models.ForeignKey(MailMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="items")
    provenance = models.JSONField(default=dict, blank=True)
    hints = models.JSONField(default=dict, blank=True, help_text="Patient hints sent with the item (API).")
    state = models.CharField(max_length=16, choices=ItemState.choices)
    refusal_code = models.CharField(max_length=64, blank=True)
    refusal_reason = models.TextField(blank=True)
    original_filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    sha1 = models.CharField(max_length=40, blank=True)
    storage_key = models.CharField(max_length=300, blank=True)
    thumbnail_key = models.CharField(max_length=300, blank=True)
    scan_status = models.CharField(max_length=16, choices=ScanStatus.choices, blank=True)
    scan_signature = models.CharField(max_length=200, blank=True)
    scan_attempts = models.PositiveIntegerField(default=0)
    scanned_at = models.DateTimeField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    text = models.TextField(blank=True, help_text="The text found in the document, pages separated by form feeds.")
    suggestions = models.JSONField(default=dict, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    duplicate_of_document = models.ForeignKey(
        Document, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_reason = models.TextField(blank=True)
    purged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A rejected item's bytes, thumbnail and text removed; this row is the tombstone.",
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_from",
        help_text="The item this one became part of (its bytes are kept here, unchanged).",
    )
    merge_position = models.PositiveIntegerField(
        null=True, blank=True, help_text="Where this item's pages are in the merged item, from 1."
    )

    class Meta:
        ordering = ("-received_at",)
        constraints = [
            models.UniqueConstraint(fields=("organisation", "source_identity"), name="inbox_item_unique_identity"),
        ]
        indexes = [
            models.Index(fields=("organisation", "state", "-received_at"), name="inbox_item_queue"),
            # The inbox page: an organisation's open items newest first, read in order (no sort of every
            # waiting item before the LIMIT; docs/performance.md, "Inbox page").
            models.Index(
                fields=("organisation", "-received_at", "-id"),
                condition=models.Q(state__in=OPEN_STATES),
                name="inbox_item_open",
            ),
            models.Index(fields=("organisation", "sha256"), name="inbox_item_sha256"),
        ]

    def __str__(self) -> str:
        return self.original_filename


class FiledDocument(models.Model):
    """Provenance of a document filed from the inbox: which item, which pages (a split names its range)."""

    document = models.OneToOneField(Document, on_delete=models.PROTECT, related_name="inbox_provenance")
    item = models.ForeignKey(InboxItem, on_delete=models.PROTECT, related_name="filed_documents")
    first_page = models.PositiveIntegerField(null=True, blank=True)
    last_page = models.PositiveIntegerField(null=True, blank=True)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("item", "first_page", "last_page"), name="inbox_filed_unique_range"),
        ]


class CategoryRule(models.Model):
    """A per-organisation keyword rule: any of its words or phrases in an item's text suggests the category."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="inbox_category_rules")
    category = models.CharField(max_length=32, choices=Category.choices)
    keywords = models.TextField(
        help_text="One word or phrase per line, matched whole and ignoring case (e.g. 'ferritin', 'discharge summary')."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("category", "created_at")

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {', '.join(self.keyword_list()[:3])}"

    def keyword_list(self) -> list[str]:
        return [line.strip() for line in self.keywords.splitlines() if line.strip()]


class CategoryClassifier(models.Model):
    """An organisation's text classifier (TF-IDF + logistic regression) trained on its own filed documents.

    Stored as plain numbers (vocabulary, idf, coefficients) in JSON, never pickled: loading it runs no code.
    """

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="inbox_category_classifier"
    )
    trained_at = models.DateTimeField()
    document_count = models.PositiveIntegerField()
    parameters = models.JSONField()
