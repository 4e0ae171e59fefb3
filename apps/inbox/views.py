"""The inbox portal: the list (filters, pages, bulk actions) and an item's page (preview and filing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.files import storage
from apps.files.filenames import content_disposition
from apps.inbox.forms import OTHER, BulkForm, FilingForm, InboxFilterForm, RejectForm
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.permissions import ensure_inbox_role
from apps.inbox.selectors import InboxFilters, inbox_item_get_for, inbox_items_for, inbox_sources_for
from apps.inbox.services.filing import (
    Filing,
    ReviewRequest,
    inbox_file,
    inbox_mark_duplicate,
    inbox_reject,
    inbox_split,
)
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import patient_get_for
from apps.reviews.models import Priority
from quill.errors import NotFound, QuillError
from quill.portal import refusals_as_pages
from quill.types import AuthenticatedHttpRequest

PAGE_SIZE = 25
REVIEW_DUE_DAYS = 7  # the review due date the filing form suggests, from today
VIEWABLE_STATES = (ItemState.READY, ItemState.FILED, ItemState.REJECTED, ItemState.DUPLICATE)

_refusals = refusals_as_pages(not_found="There is no such inbox item, or it is not yours to see.")


def _portal(view: Any) -> Any:
    return never_cache(login_required(_refusals(view)))


def _audit_item(request: AuthenticatedHttpRequest, item: InboxItem, action: Action, **details: Any) -> None:
    audit_record(
        action=action,
        actor=request.user,
        object_type="inbox_item",
        object_id=item.pk,
        details={"filename": item.original_filename, **details},
    )


@_portal
@require_GET
def inbox_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    ensure_inbox_role(user=request.user, attempted="inbox.list")
    sources = list(inbox_sources_for(user=request.user))
    form = InboxFilterForm(request.GET or None, sources=[(str(s.pk), s.name) for s in sources])
    filters = InboxFilters()
    if form.is_bound and form.is_valid():
        filters = InboxFilters(source_id=form.cleaned_data["source"] or None, state=form.cleaned_data["state"])
    page = Paginator(inbox_items_for(user=request.user, filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action=Action.INBOX_LISTED,
        actor=request.user,
        object_type="inbox_item",
        details={"source": str(filters.source_id or ""), "state": filters.state, "returned": len(page.object_list)},
    )
    keep = urlencode({key: str(value) for key, value in request.GET.items() if key != "page" and value})
    return render(request, "inbox/list.html", {"form": form, "page": page, "keep": keep, "bulk": BulkForm()})


@_portal
@require_POST
def inbox_bulk(request: AuthenticatedHttpRequest) -> HttpResponse:
    ensure_inbox_role(user=request.user, attempted="inbox.bulk")
    form = BulkForm(request.POST)
    ids = request.POST.getlist("items")
    if not form.is_valid() or not ids:
        messages.error(request, "Choose one or more items and an action.")
        return redirect("inbox:list")
    action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
    done = 0
    for item_id in ids:
        try:
            item = inbox_item_get_for(user=request.user, item_id=item_id)
            if action == "reject":
                inbox_reject(actor=request.user, item=item, reason=reason)
            else:
                inbox_mark_duplicate(actor=request.user, item=item, reason=reason)
            done += 1
        except (QuillError, ValueError) as refusal:
            messages.error(request, getattr(refusal, "message", "An item could not be changed."))
    if done:
        messages.success(
            request,
            f"{done} item{'s' if done != 1 else ''} {'rejected' if action == 'reject' else 'marked as duplicate'}.",
        )
    return redirect("inbox:list")


def _patient_for(request: AuthenticatedHttpRequest, form: FilingForm) -> Patient:
    data = form.cleaned_data
    if data["patient"] == OTHER:
        patient = Patient.objects.filter(
            organisation_id=str(request.user.organisation_id), nhs_number=data["nhs_number"]
        ).first()
        if patient is None:
            raise NotFound("No patient of yours has that NHS number.")
        patient_id: Any = patient.pk
    else:
        patient_id = data["patient"]
    return patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.VIEW)


def _file(request: AuthenticatedHttpRequest, item: InboxItem, form: FilingForm) -> HttpResponse:
    data = form.cleaned_data
    patient = _patient_for(request, form)
    review = None
    if data["review_assignee"] is not None or data["review_team"] is not None:
        review = ReviewRequest(priority=data["review_priority"] or Priority.ROUTINE, due_date=data["review_due_date"],
                               assignee=data["review_assignee"], team=data["review_team"])  # fmt: skip
    common = {"patient": patient, "category": data["category"], "document_date": data["document_date"],
              "encounter_id": data["encounter_id"], "review": review,
              "rotations": data["rotate"]}  # fmt: skip
    ranges = data["page_ranges"]
    if ranges:
        title = data["title"] or item.suggestions.get("title") or item.original_filename
        filings = [
            Filing(**common, title=f"{title} (pages {first}–{last})", first_page=first, last_page=last)
            for first, last in ranges
        ]
        documents = inbox_split(actor=request.user, item=item, filings=filings)
        messages.success(request, f"Split into {len(documents)} documents and filed to {patient}.")
    else:
        inbox_file(actor=request.user, item=item, filing=Filing(**common, title=data["title"]))
        messages.success(request, f"Filed to {patient}.")
    return redirect("inbox:list")


@_portal
@require_http_methods(["GET", "POST"])
def inbox_item(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    ensure_inbox_role(user=request.user, attempted="inbox.item")
    item = inbox_item_get_for(user=request.user, item_id=item_id)
    suggestions = item.suggestions.get("patients", [])
    categories = item.suggestions.get("categories", [])
    initial = {
        "patient": suggestions[0]["patient_id"] if suggestions else None,
        "category": categories[0]["category"] if categories else item.source.default_category,
        "title": item.suggestions.get("title", ""),
        "document_date": item.suggestions.get("document_date") or None,
        "page_ranges": ", ".join(f"{p['first_page']}-{p['last_page']}" for p in item.suggestions.get("parts", [])),
        "review_assignee": item.source.default_reviewer_id,
        "review_due_date": timezone.localdate() + timedelta(days=REVIEW_DUE_DAYS),
    }
    form = FilingForm(
        request.POST or None, initial=initial, suggestions=suggestions, organisation_id=request.user.organisation_id
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                return _file(request, item, form)
            except QuillError as refusal:
                form.add_error(None, refusal.message)
        status = 400
    else:
        _audit_item(request, item, Action.INBOX_ITEM_VIEWED)
    context = {"item": item, "form": form, "reject": RejectForm(), "open": item.state == ItemState.READY,
               "viewable": item.state in VIEWABLE_STATES}  # fmt: skip
    return render(request, "inbox/item.html", context, status=status)


@_portal
@require_POST
def inbox_item_reject(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponse:
    ensure_inbox_role(user=request.user, attempted="inbox.reject")
    item = inbox_item_get_for(user=request.user, item_id=item_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why this document is rejected.")
        return redirect("inbox:item", item_id=item.pk)
    inbox_reject(actor=request.user, item=item, reason=form.cleaned_data["reason"])
    messages.success(request, f"Rejected {item.original_filename}.")
    return redirect("inbox:list")


def _stream(key: str, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(storage.open_range(key), content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename, as_attachment=False)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@_portal
@require_GET
def inbox_item_thumbnail(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponseBase:
    ensure_inbox_role(user=request.user, attempted="inbox.thumbnail")
    item = inbox_item_get_for(user=request.user, item_id=item_id)
    if item.state not in VIEWABLE_STATES or not item.thumbnail_key:
        raise NotFound()
    return _stream(item.thumbnail_key, "image/webp", "thumbnail.webp")


@_portal
@require_GET
def inbox_item_content(request: AuthenticatedHttpRequest, item_id: str) -> HttpResponseBase:
    """The file itself, for the viewer: never before a clean scan, never a quarantined one."""
    ensure_inbox_role(user=request.user, attempted="inbox.content")
    item = inbox_item_get_for(user=request.user, item_id=item_id)
    if item.state not in VIEWABLE_STATES or not item.storage_key:
        raise NotFound()
    _audit_item(request, item, Action.INBOX_ITEM_VIEWED, content=True)
    return _stream(item.storage_key, item.content_type, item.original_filename)
