"""The outbox in the Django admin: what is waiting, what was delivered, what was dead-lettered.

Read-only: messages change only through the relay and the outbox services. Platform
superusers see every message; an organisation's administrators and owners see their
own organisation's. "Re-queue" gives dead (or stuck) messages a fresh start through
``outbox_requeue`` and is audited.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.outbox.models import MessageStatus, OutboxMessage
from apps.outbox.services import outbox_requeue
from quill.admin_site import OrganisationReadOnlyAdmin


@admin.register(OutboxMessage)
class OutboxMessageAdmin(OrganisationReadOnlyAdmin):
    list_display = (
        "id",
        "target",
        "kind",
        "object_id",
        "status",
        "attempts",
        "next_attempt_at",
        "short_error",
        "updated_at",
    )
    list_filter = ("status", "target", "kind")
    search_fields = ("object_id", "last_error")
    ordering = ("-updated_at",)
    date_hierarchy = "created_at"
    actions = ["requeue"]
    fields = (
        "target",
        "kind",
        "object_id",
        "organisation_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "response_json",
        "created_at",
        "updated_at",
        "delivered_at",
    )
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        if not self._may_read(request):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return str(obj.organisation_id) == str(request.user.organisation_id)  # type: ignore[union-attr]  # staff only

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return self._may_read(request)

    @admin.display(description="last error")
    def short_error(self, message: OutboxMessage) -> str:
        text = message.last_error or ""
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="last response")
    def response_json(self, message: OutboxMessage) -> str:
        if message.last_response is None:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(message.last_response, indent=2, sort_keys=True))

    @admin.action(description="Re-queue the selected dead or pending messages", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet) -> None:
        chosen = queryset.filter(status__in=[MessageStatus.DEAD, MessageStatus.PENDING])
        with transaction.atomic():
            ids = sorted(chosen.values_list("pk", flat=True))
            count = outbox_requeue(messages=chosen)
            audit_record(
                action=Action.OUTBOX_REQUEUED,
                actor=request.user,
                object_type="outbox_message",
                details={"message_ids": ids, "via": "admin"},
            )
        skipped = queryset.count() - count
        text = f"Re-queued {count} message(s)."
        if skipped:
            text += f" {skipped} delivered message(s) were left alone."
        self.message_user(request, text, messages.SUCCESS)
