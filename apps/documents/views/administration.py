"""Administrators' pages: deleted documents (and restoring them) and quarantined documents."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.models import ScanStatus
from apps.documents.permissions import ensure_manager
from apps.documents.selectors import deleted_documents, document_get_for, quarantined_documents
from apps.documents.services import document_restore
from apps.documents.views._common import PAGE_SIZE, _portal
from quill.errors import PermissionDenied, QuillError
from quill.types import AuthenticatedHttpRequest

# --- administrators: deleted and quarantined ---------------------------------------------------


@_portal
@require_GET
def deleted_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    ensure_manager(user=request.user, doing="see deleted documents", attempted="document.deleted_list")
    page = Paginator(deleted_documents(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action=Action.DOCUMENT_DELETED_LISTED,
        actor=request.user,
        object_type="document",
        details={"page": page.number, "returned": len(page.object_list)},
    )
    return render(request, "documents/deleted.html", {"page": page})


@_portal
@require_POST
def document_restore_view(request: AuthenticatedHttpRequest, document_id: str) -> HttpResponse:
    document = document_get_for(
        user=request.user, document_id=document_id, include_deleted=True, action="document.restore"
    )
    try:
        document_restore(actor=request.user, document=document)
    except PermissionDenied:
        raise
    except QuillError as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"“{document.title}” was restored.")
    return redirect("documents:deleted")


@_portal
@require_GET
def quarantine_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    ensure_manager(user=request.user, doing="see quarantined documents", attempted="document.quarantine_list")
    page = Paginator(quarantined_documents(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action=Action.DOCUMENT_QUARANTINE_LISTED,
        actor=request.user,
        object_type="document",
        details={"page": page.number, "returned": len(page.object_list)},
    )
    return render(request, "documents/quarantine.html", {"page": page, "pending": ScanStatus.PENDING})
