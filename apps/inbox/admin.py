"""The inbox in the Django admin: sources and settings managed per organisation; items read-only.

Administrators see refused and infected items here with their reason and provenance
(nothing that arrived is hidden from them); the IMAP password never appears, only the
path of the secrets file that holds it.
"""

from __future__ import annotations

from django.contrib import admin

from apps.accounts.admin._base import OrganisationScopedAdmin
from apps.inbox.models import CategoryClassifier, CategoryRule, InboxItem, InboxSettings, IntakeSource, MailMessage
from quill.admin_site import OrganisationReadOnlyAdmin


@admin.register(IntakeSource)
class IntakeSourceAdmin(OrganisationScopedAdmin):
    list_display = ["name", "kind", "organisation", "enabled", "default_category", "default_reviewer"]
    list_filter = ["kind", "enabled", "organisation"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["organisation", "name", "kind", "enabled", "default_category", "default_reviewer"]}),
        ("Watched folder", {"fields": ["folder_path"]}),
        (
            "IMAP mailbox",
            {
                "fields": [
                    "imap_host",
                    "imap_port",
                    "imap_tls",
                    "imap_username",
                    "imap_password_file",
                    "imap_folder",
                    "imap_processed_folder",
                ]
            },
        ),
    ]


@admin.register(InboxSettings)
class InboxSettingsAdmin(OrganisationScopedAdmin):
    list_display = ["organisation", "auto_file", "rejected_keep_days"]


@admin.register(CategoryRule)
class CategoryRuleAdmin(OrganisationScopedAdmin):
    list_display = ["category", "keywords", "organisation", "enabled"]
    list_filter = ["category", "enabled"]
    search_fields = ["keywords"]
    fields = ["organisation", "category", "keywords", "enabled"]


@admin.register(CategoryClassifier)
class CategoryClassifierAdmin(OrganisationReadOnlyAdmin):
    """When each organisation's classifier was last trained and on how many documents (retrained nightly)."""

    list_display = ["organisation", "trained_at", "document_count"]
    readonly_fields = fields = ("organisation", "trained_at", "document_count")


@admin.register(InboxItem)
class InboxItemAdmin(OrganisationReadOnlyAdmin):
    list_display = ["original_filename", "source", "state", "refusal_code", "scan_status", "received_at"]
    list_filter = ["state", "source", "scan_status"]
    search_fields = ["original_filename", "sha256", "refusal_code"]
    ordering = ["-received_at"]
    list_select_related = ["source"]
    readonly_fields = fields = (
        "source",
        "state",
        "original_filename",
        "refusal_code",
        "refusal_reason",
        "provenance",
        "mail_message",
        "content_type",
        "size",
        "sha256",
        "scan_status",
        "scan_signature",
        "duplicate_of",
        "duplicate_of_document",
        "merged_into",
        "merge_position",
        "received_at",
        "closed_at",
        "closed_by",
        "closed_reason",
    )


@admin.register(MailMessage)
class MailMessageAdmin(OrganisationReadOnlyAdmin):
    list_display = ["subject", "sender", "sent_at", "message_id", "source", "received_at"]
    search_fields = ["subject", "sender", "message_id"]
    ordering = ["-received_at"]
    readonly_fields = fields = (
        "source",
        "sender",
        "subject",
        "sent_at",
        "message_id",
        "uidvalidity",
        "uid",
        "size",
        "sha256",
    )
