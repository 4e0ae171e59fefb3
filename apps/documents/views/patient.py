"""The patient page's documents region and uploading to a patient (one file, or several at once)."""

from __future__ import annotations

import hashlib
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import parse_etags, quote_etag, urlencode
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.forms import (
    SORT_COLUMNS,
    SORT_DIRECTIONS,
    SORT_LABELS,
    DocumentFilterForm,
    UploadMetadataForm,
)
from apps.documents.permissions import allowed_categories, ensure_document_role
from apps.documents.selectors import DocumentFilters, DocumentSort, document_list
from apps.documents.services import UploadRequest, document_upload, document_upload_bulk
from apps.documents.views._common import (
    ACCEPT,
    PAGE_SIZE,
    _patient,
    _portal,
    _receives_files,
    _uploaded_files,
)
from apps.files.errors import MissingFile
from apps.patients import access
from apps.patients.models import Patient
from quill import extensions
from quill.errors import QuillError
from quill.types import AuthenticatedHttpRequest

# --- the patient page's documents region ------------------------------------------------------

LIST_TEMPLATE = "documents/_documents_list.html"
FILTER_FIELDS = ("title", "category", "encounter_id", "date_from", "date_to")


def _query(params: QueryDict, *, without: tuple[str, ...] = (), **extra: str) -> str:
    """The page's query string without `without`, with `extra` (empty values dropped)."""
    # QueryDict.items() gives each key's last value, or [] for a key with none (skipped as empty).
    kept = {key: value for key, value in params.items() if key not in without and isinstance(value, str) and value}
    return urlencode({**kept, **extra})


def _sort_headings(params: QueryDict, sort: DocumentSort | None) -> list[dict[str, str]]:
    """Each sortable column's heading: its aria-sort, and a link to the other order (or to the column's
    first order) that keeps the filters and starts again at page 1."""
    headings = []
    for column, (label, first) in SORT_COLUMNS.items():
        current = sort is not None and sort.column == column
        if sort is not None and current:
            next_sort = DocumentSort(column if sort.descending else f"-{column}")
            aria_sort = "descending" if sort.descending else "ascending"
        else:
            next_sort, aria_sort = first, ""
        headings.append(
            {
                "column": column,
                "label": label,
                "aria_sort": aria_sort,
                "href": "?" + _query(params, without=("page", "sort"), sort=next_sort.value) + "#documents",
                "next": SORT_DIRECTIONS[next_sort],
            }
        )
    return headings


def _documents_listing(request: HttpRequest, patient: Patient, user: User) -> dict[str, Any]:
    """The documents region's filters, order and one page of documents, with the list rendered once
    (the page includes it; the refresh view sends it alone). Reads only: the caller records it."""
    allowed = allowed_categories(user)
    if allowed == frozenset():
        return {"no_role": True}
    form = DocumentFilterForm(request.GET or None, allowed=allowed)
    valid = form.is_valid() if form.is_bound else True
    cleaned = form.cleaned_data if form.is_bound and valid else {}
    # A sort that could be read is kept for the headings even when another filter could not.
    sort: DocumentSort | None = DocumentSort.DATE_NEWEST
    if form.is_bound:
        sort = None if "sort" in form.errors else form.cleaned_data.get("sort")
    filters = DocumentFilters(
        patient_id=patient.pk,
        category=cleaned.get("category") or "",
        encounter_id=(cleaned.get("encounter_id") or "").strip(),
        date_from=cleaned.get("date_from"),
        date_to=cleaned.get("date_to"),
        title=cleaned.get("title") or "",
        sort=sort or DocumentSort.DATE_NEWEST,
    )
    documents = document_list(user=user, filters=filters)
    if not valid:
        # Filters that cannot be read match nothing: an unfiltered list headed as matching misleads.
        documents = documents.none()
    page = Paginator(documents, PAGE_SIZE).get_page(request.GET.get("page"))
    region: dict[str, Any] = {
        "no_role": False,
        "filter_form": form,
        "filters_invalid": not valid,
        "filtered": any(request.GET.get(name) for name in FILTER_FIELDS),
        "cleaned": cleaned,
        "page": page,
        "keep": _query(request.GET, without=("page",)),
        "clear_query": _query(request.GET, without=(*FILTER_FIELDS, "page")),
        "sort_label": SORT_LABELS[sort] if sort is not None else "",
        "headings": _sort_headings(request.GET, sort),
        "list_url": reverse("documents:patient_list", args=[patient.pk]) + "?" + _query(request.GET),
        "awaiting_review": set().union(
            *extensions.ask(extensions.DOCUMENTS_AWAITING_REVIEW, patient_id=patient.pk, categories=allowed)
        ),
    }
    html = render_to_string(LIST_TEMPLATE, {"patient": patient, "documents_region": region}, request=request)
    region["list_html"] = html
    region["etag"] = quote_etag(hashlib.sha256(html.encode()).hexdigest()[:32])
    return region


def _record_listing(*, user: User, patient: Patient, region: dict[str, Any], channel: str) -> None:
    page = region["page"]
    audit_record(
        action=Action.DOCUMENT_LISTED,
        actor=user,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        details={
            "channel": channel,
            "filters": {key: str(value) for key, value in region["cleaned"].items() if value},
            "page": page.number,
            "documents": [str(document.pk) for document in page.object_list],
        },
    )


def patient_documents_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """What templates/documents/_patient_documents.html shows: filters, one page of documents, upload.

    Registered as the patient page's `documents_region` (apps.patients.regions), so the patient
    page's view calls it and records the listing; the template only shows the result.
    """
    # The patient page that calls every region is behind login_required; RegionProvider is typed
    # with a plain HttpRequest, so the signed-in user is stated here.
    user = cast(User, request.user)
    region = _documents_listing(request, patient, user)
    if region["no_role"]:
        return region
    _record_listing(user=user, patient=patient, region=region, channel="portal")
    return {
        **region,
        "upload_form": UploadMetadataForm(allowed=allowed_categories(user)),
        "may_change_photo": access.may_write(user),
        "accept": ACCEPT,
    }


@_portal
@require_GET
def patient_documents_list(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    """The patient page's documents list alone, with the page's filters, order and page number:
    static/js/upload.js fetches it to refresh the list in place after uploads and while scans run.

    The answer's ETag is a hash of the list; a poll sending it back (If-None-Match) while nothing
    changed is answered 304 and not recorded again, because it shows nothing new.
    """
    patient = _patient(request.user, patient_id)
    ensure_document_role(user=request.user)
    region = _documents_listing(request, patient, request.user)
    if region["etag"] in parse_etags(request.headers.get("If-None-Match", "")):
        response: HttpResponse = HttpResponseNotModified()
    else:
        _record_listing(user=request.user, patient=patient, region=region, channel="portal-refresh")
        response = HttpResponse(region["list_html"])
    response["ETag"] = region["etag"]
    return response


# --- upload ---------------------------------------------------------------------------------


def _upload_fields(form: UploadMetadataForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "category": data["category"],
        "title": data.get("title") or "",
        "encounter_id": data.get("encounter_id") or "",
        "document_date": data.get("document_date"),
    }


@_receives_files
@require_http_methods(["GET", "POST"])
def document_upload_view(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    """One file without JavaScript (the JavaScript upload sends each file to the API instead)."""
    patient = _patient(request.user, patient_id)
    allowed = ensure_document_role(user=request.user)
    form = UploadMetadataForm(request.POST or None, allowed=allowed)
    refusal: QuillError | None = None
    if request.method == "POST":
        try:
            files = _uploaded_files(request, "file")
            if not files:
                raise MissingFile()
            if form.is_valid():
                item = UploadRequest(spooled=files[0].spooled, filename=files[0].name or "", **_upload_fields(form))
                document = document_upload(actor=request.user, patient=patient, item=item)
                messages.success(
                    request, f"“{document.title}” was uploaded. It can be opened once its virus check finishes."
                )
                return redirect(reverse("patients:detail", args=[patient.pk]) + "#documents")
        except QuillError as error:
            refusal = error
    status = refusal.http_status if refusal else (400 if form.errors else 200)
    context = {"patient": patient, "upload_form": form, "refusal": refusal, "accept": ACCEPT}
    return render(request, "documents/upload.html", context, status=status)


def _bulk_rows(outcomes: list) -> list[dict[str, Any]]:
    rows = []
    for outcome in outcomes:
        if outcome.document is not None:
            rows.append({"filename": outcome.filename, "outcome": "stored", "document": outcome.document})
        elif outcome.error is not None:
            rows.append({"filename": outcome.filename, "outcome": "refused", **outcome.error.as_detail()})
        else:
            rows.append(
                {
                    "filename": outcome.filename,
                    "outcome": "not_stored",
                    "error_code": "batch_refused",
                    "message": "Not stored, because another file in this upload was refused.",
                }
            )
    return rows


@_receives_files
@require_http_methods(["GET", "POST"])
def document_bulk_view(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    """Several files, all or nothing; every file's outcome and the totals are shown."""
    patient = _patient(request.user, patient_id)
    allowed = ensure_document_role(user=request.user)
    form = UploadMetadataForm(request.POST or None, allowed=allowed)
    refusal: QuillError | None = None
    rows: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        try:
            files = _uploaded_files(request, "files")
            if not files:
                raise MissingFile("Choose one or more files to upload.")
            if len(files) > settings.QUILL_MAX_BULK_FILES:
                raise QuillError(f"Upload at most {settings.QUILL_MAX_BULK_FILES} files at once.")
            if form.is_valid():
                fields = _upload_fields(form)
                if len(files) > 1:
                    fields["title"] = ""
                items = [UploadRequest(spooled=f.spooled, filename=f.name or "", **fields) for f in files]
                rows = _bulk_rows(document_upload_bulk(actor=request.user, patient=patient, items=items))
                status = 201 if all(row["outcome"] == "stored" for row in rows) else 400
            else:
                status = 400
        except QuillError as error:
            refusal, status = error, error.http_status
    totals = {
        "stored": sum(1 for row in rows if row["outcome"] == "stored"),
        "refused": sum(1 for row in rows if row["outcome"] == "refused"),
        "total": len(rows),
    }
    context = {
        "patient": patient,
        "upload_form": form,
        "refusal": refusal,
        "rows": rows,
        "totals": totals,
        "accept": ACCEPT,
    }
    return render(request, "documents/bulk.html", context, status=status)
