"""The inbox portal: the list (filters, pages, bulk actions), merging items, and an item's page (the document
viewer beside the filing form, whole or split into parts each filed to its own patient)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.services.pages import PAGED_TYPES, PageSize, Served, document_page_rendition, page_etag
from apps.documents.views.document import VIEWER_KINDS, ZOOM_STEPS, page_image_response
from apps.files import storage
from apps.files.errors import ThumbnailError
from apps.files.filenames import content_disposition
from apps.inbox.errors import MergeInvalid, PartRefused, SplitInvalid
from apps.inbox.forms import (
    MAX_PARTS,
    OTHER,
    BaseSplitFormSet,
    BulkForm,
    FilingForm,
    InboxFilterForm,
    RejectForm,
    SplitFormSet,
    suggested_patient_choices,
)
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.pdfs import MERGEABLE_TYPES
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
from apps.inbox.services.merging import MAX_MERGED_ITEMS, inbox_merge
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import patient_by_nhs_number_for, patient_get_for
from apps.reviews.models import Priority
from quill.errors import NotFound, QuillError
from quill.portal import refusals_as_pages
from quill.types import AuthenticatedHttpRequest

PAGE_SIZE = 25
REVIEW_DUE_DAYS = 7  # the review due date the filing form suggests, from today
VIEWABLE_STATES = (ItemState.READY, ItemState.FILED, ItemState.REJECTED, ItemState.DUPLICATE, ItemState.MERGED)

_refusals = refusals_as_pages(not_found="There is no such inbox item, or it is not yours to see.")


def _portal(view: Any) -> Any:
    return never_cache(login_required(_refusals(view)))


def _portal_revalidated(view: Any) -> Any:
    """For page images the browser may keep but must ask about each time (ETag, `no-cache`, set by the view);
    a refusal or a redirect to sign in is never stored."""
    inner = login_required(_refusals(view))

    @wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = inner(request, *args, **kwargs)
        if response.status_code not in (200, 304):
            add_never_cache_headers(response)
        return response

    return wrapper


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
    if action == "merge":  # the order is chosen on the next page
        return redirect(
            f"{reverse('inbox:merge')}?{urlencode([('items', item_id) for item_id in ids[:MAX_MERGED_ITEMS]])}"
        )
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


def _chosen_patient(request: AuthenticatedHttpRequest, choice: str, nhs_number: str) -> Patient:
    if choice == OTHER:
        return patient_by_nhs_number_for(user=request.user, nhs_number=nhs_number, action=PatientAction.VIEW)
    return patient_get_for(user=request.user, patient_id=choice, action=PatientAction.VIEW)


def _review(data: dict[str, Any]) -> ReviewRequest | None:
    if data["review_assignee"] is None and data["review_team"] is None:
        return None
    return ReviewRequest(priority=data["review_priority"] or Priority.ROUTINE, due_date=data["review_due_date"],
                         assignee=data["review_assignee"], team=data["review_team"])  # fmt: skip


def _part_filings(
    request: AuthenticatedHttpRequest, item: InboxItem, form: FilingForm, parts: BaseSplitFormSet
) -> list[Filing] | None:
    """One filing per part, each with its own patient, category, date and title where given (else the whole's);
    None when a part's patient cannot be used (the refusal is shown beside that part's fields)."""
    data = form.cleaned_data
    whole = _chosen_patient(request, data["patient"], data["nhs_number"]) if data["patient"] else None
    title = data["title"] or item.suggestions.get("title") or item.original_filename
    filings, refused = [], False
    for part in parts.parts():
        part_form = parts.forms[part["row"]]
        try:
            patient = _chosen_patient(request, part["patient"], part["nhs_number"]) if part["patient"] else whole
        except QuillError as refusal:
            part_form.add_error("nhs_number" if part["patient"] == OTHER else "patient", refusal.message)
            refused = True
            continue
        if patient is None:
            part_form.add_error("patient", "Choose this part's patient, or a patient for the whole document above.")
            refused = True
            continue
        first, last = part["pages"]
        filings.append(
            Filing(
                patient=patient, category=part["category"] or data["category"],
                title=part["title"] or f"{title} (pages {first}–{last})",
                document_date=part["document_date"] or data["document_date"], encounter_id=data["encounter_id"],
                review=_review(data), rotations=data["rotate"], first_page=first, last_page=last,
            )
        )  # fmt: skip
    return None if refused else filings


def _file(
    request: AuthenticatedHttpRequest, item: InboxItem, form: FilingForm, parts: BaseSplitFormSet
) -> HttpResponse | None:
    """File the whole item, or its parts; None when a refusal was put on the forms to show them again."""
    data = form.cleaned_data
    if parts.parts():
        filings = _part_filings(request, item, form, parts)
        if filings is None:
            return None
        try:
            documents = inbox_split(actor=request.user, item=item, filings=filings)
        except (PartRefused, SplitInvalid) as refusal:
            row = refusal.data.get("part")
            if row is None:
                raise
            parts.forms[parts.parts()[row]["row"]].add_error(None, refusal.message)
            return None
        patients = {str(document.patient) for document in documents}
        messages.success(request, f"Split into {len(documents)} documents and filed to {', '.join(sorted(patients))}.")
        return redirect("inbox:list")
    patient = _chosen_patient(request, data["patient"], data["nhs_number"])
    filing = Filing(patient=patient, category=data["category"], title=data["title"],
                    document_date=data["document_date"], encounter_id=data["encounter_id"],
                    review=_review(data), rotations=data["rotate"])  # fmt: skip
    inbox_file(actor=request.user, item=item, filing=filing)
    messages.success(request, f"Filed to {patient}.")
    return redirect("inbox:list")


def _part_choices(item: InboxItem) -> list[tuple[str, str]]:
    """What a part's patient can be: the item's suggested patients, and each cover sheet's patient."""
    choices = suggested_patient_choices(item.suggestions.get("patients", []))
    known = {value for value, _ in choices}
    for part in item.suggestions.get("parts", []):
        if part.get("patient_id") and part["patient_id"] not in known:
            known.add(part["patient_id"])
            choices.append((part["patient_id"], f"The cover sheet's patient ({part['evidence']})"))
    return choices


def _split_formset(request: AuthenticatedHttpRequest, item: InboxItem) -> BaseSplitFormSet:
    suggested = item.suggestions.get("parts", [])
    initial = [{"pages": f"{p['first_page']}-{p['last_page']}", "patient": p.get("patient_id", "")} for p in suggested]
    rows = max(2, len(initial))
    data = None
    if request.method == "POST" and "part-TOTAL_FORMS" in request.POST:  # no split rows sent: the whole is filed
        data = request.POST.copy()
        if "more_parts" in data:
            given = data.get("part-TOTAL_FORMS", "")
            total = int(given) if given.isdigit() and len(given) < 4 else rows
            data["part-TOTAL_FORMS"] = str(min(total + 1, MAX_PARTS))
    formset = SplitFormSet(data, prefix="part", initial=initial, form_kwargs={"patient_choices": _part_choices(item)})
    formset.extra = rows - len(initial)
    return cast(BaseSplitFormSet, formset)


def _every_part_names_its_patient(parts: BaseSplitFormSet) -> bool:
    given = parts.parts()
    return bool(given) and all(part["patient"] for part in given)


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
        "review_assignee": item.source.default_reviewer_id,
        "review_due_date": timezone.localdate() + timedelta(days=REVIEW_DUE_DAYS),
    }
    parts = _split_formset(request, item)
    adding_part = request.method == "POST" and "more_parts" in request.POST
    parts_valid = request.method == "POST" and not adding_part and (not parts.is_bound or parts.is_valid())
    form = FilingForm(
        request.POST or None, initial=initial, suggestions=suggestions, organisation_id=request.user.organisation_id,
        parts_name_their_patients=parts_valid and _every_part_names_its_patient(parts),
    )  # fmt: skip
    status = 200
    if request.method == "POST" and not adding_part:
        if form.is_valid() and parts_valid:
            try:
                response = _file(request, item, form, parts)
            except QuillError as refusal:
                form.add_error(None, refusal.message)
            else:
                if response is not None:
                    return response
        status = 400
    elif request.method == "GET":
        _audit_item(request, item, Action.INBOX_ITEM_VIEWED)
    return render(request, "inbox/item.html", _item_context(item, form=form, parts=parts), status=status)


def _item_context(item: InboxItem, **context: Any) -> dict[str, Any]:
    viewable = item.state in VIEWABLE_STATES and bool(item.storage_key)
    return {
        **context,
        "item": item,
        "reject": RejectForm(),
        "open": item.state == ItemState.READY,
        "viewable": viewable,
        "splittable": item.content_type == "application/pdf" and (item.page_count or 0) > 1,
        "max_parts": MAX_PARTS,
        "merged_from": list(item.merged_from.order_by("merge_position")),
        "viewer": _viewer(item) if viewable else None,
    }


def _viewer(item: InboxItem) -> dict[str, Any]:
    """What the shared document viewer (documents/_viewer.html) needs to show this item, read-only."""
    kind = VIEWER_KINDS.get(item.content_type, "image")
    return {
        "shown": kind != "image" or item.content_type in ("image/jpeg", "image/png"),
        "kind": kind,
        "title": item.suggestions.get("title") or item.original_filename,
        "content_url": reverse("inbox:content", args=[item.pk]),
        "page_url": reverse("inbox:page_image", args=[item.pk, 1, PageSize.STANDARD]),
        "large_page_url": reverse("inbox:page_image", args=[item.pk, 1, PageSize.LARGE]),
        "zoom_steps": ZOOM_STEPS,
    }


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
    # As a document shown inline: in Quill's own frame (the viewer's "browser's PDF viewer"), scripts never run.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response["X-Frame-Options"] = "SAMEORIGIN"
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


def _merge_candidates(request: AuthenticatedHttpRequest, ids: list[str]) -> list[InboxItem]:
    """The chosen items, each found within the caller's organisation (another's, or no such item: 404)."""
    if len(ids) > MAX_MERGED_ITEMS:
        raise MergeInvalid(f"Merge at most {MAX_MERGED_ITEMS} items at once.")
    return [inbox_item_get_for(user=request.user, item_id=item_id) for item_id in ids]


def _merge_order(request: AuthenticatedHttpRequest, items: list[InboxItem]) -> list[InboxItem]:
    """The items in the order the positions give (ties keep the order shown)."""
    positions = []
    for index, item in enumerate(items):
        given = request.POST.get(f"position-{item.pk}", "").strip()
        if not (given.isascii() and given.isdigit() and len(given) <= 3 and 1 <= int(given) <= len(items)):
            raise MergeInvalid(f"Give “{item.original_filename}” a position from 1 to {len(items)}.")
        positions.append((int(given), index, item))
    return [item for _, _, item in sorted(positions, key=lambda entry: entry[:2])]


@_portal
@require_http_methods(["GET", "POST"])
def inbox_merge_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Choose the order of the selected items, then merge them into one new item (shown next)."""
    ensure_inbox_role(user=request.user, attempted="inbox.merge")
    query = request.POST if request.method == "POST" else request.GET
    ids = [value for value in query.getlist("items") if value]
    for value in ids:
        try:
            uuid.UUID(value)
        except ValueError:
            raise NotFound("There is no such inbox item, or it is not yours to see.") from None
    items = _merge_candidates(request, ids)
    # Oldest first: pages scanned one after another arrive in that order.
    items.sort(key=lambda item: item.received_at)
    error = ""
    if request.method == "POST":
        try:
            merged = inbox_merge(actor=request.user, items=_merge_order(request, items))
        except QuillError as refusal:
            error = refusal.message
        else:
            messages.success(request, f"Merged {len(items)} items into one document; file it below.")
            return redirect("inbox:item", item_id=merged.pk)
    elif len(items) < 2:
        error = "Choose at least two inbox items to merge."
    context = {"items": items, "error": error, "mergeable": MERGEABLE_TYPES}
    return render(request, "inbox/merge.html", context, status=400 if error and request.method == "POST" else 200)


@_portal_revalidated
@require_GET
def inbox_item_page_image(request: AuthenticatedHttpRequest, item_id: str, page: int, size: str) -> HttpResponse:
    """One page of a PDF (or a TIFF's first) item as WebP for the viewer; never before a clean scan.

    Rendered once and kept beside the item's object, as a document's pages are (the documents app's
    `document_page_rendition`); every request is audited, a matching `If-None-Match` answered 304.
    """
    ensure_inbox_role(user=request.user, attempted="inbox.page")
    try:
        chosen = PageSize(size)
    except ValueError:
        raise NotFound() from None
    item = inbox_item_get_for(user=request.user, item_id=item_id)
    if item.state not in VIEWABLE_STATES or not item.storage_key or item.content_type not in PAGED_TYPES:
        raise NotFound()
    etag = page_etag(item, page, chosen)
    details: dict[str, Any] = {"page": page, "size": chosen.value}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        _audit_item(request, item, Action.INBOX_ITEM_VIEWED, **details, served=Served.NOT_MODIFIED.value)
        return page_image_response(None, etag)
    try:
        image = document_page_rendition(document=item, page=page, size=chosen)
    except (FileNotFoundError, ThumbnailError) as exc:
        raise NotFound() from exc
    _audit_item(request, item, Action.INBOX_ITEM_VIEWED, **details, served=image.served.value)
    return page_image_response(image, etag)
