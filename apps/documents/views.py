"""Portal pages for documents. Thin: parse, call a selector or service, render.

Views that receive files swap in HashingUploadHandler before anything reads the
body: they are csrf_exempt on the outside and csrf_protect on the inside (see
apps/files/upload_handler.py), so the CSRF check itself parses the body
with the hashing handler.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.accounts.photos import user_photo_remove, user_photo_set
from apps.audit.selectors import action_label
from apps.audit.services import audit_record
from apps.documents.audit import audit_document
from apps.documents.forms import DeleteForm, DocumentFilterForm, NewVersionForm, UploadMetadataForm
from apps.documents.history import document_audit_events
from apps.documents.models import AnnotationKind, Document, ScanStatus
from apps.documents.permissions import allowed_categories, ensure_document_role, ensure_manager
from apps.documents.selectors import (
    DocumentFilters,
    deleted_documents,
    document_get_for,
    document_list,
    document_versions,
    quarantined_documents,
)
from apps.documents.services import (
    UploadRequest,
    document_new_version,
    document_restore,
    document_soft_delete,
    document_upload,
    document_upload_bulk,
)
from apps.documents.services.annotations import (
    annotation_delete,
    annotation_get_for,
    annotations_for,
    may_delete_annotation,
)
from apps.documents.services.delivery import ensure_available
from apps.files import storage
from apps.files.errors import MissingFile, ThumbnailError
from apps.files.rendering import render_page
from apps.files.upload_handler import HashingUploadHandler
from apps.patients import access
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.photos import patient_photo_remove, patient_photo_set
from apps.patients.selectors import patient_get_for
from quill.errors import NotFound, PermissionDenied, QuillError
from quill.portal import refusals_as_pages as portal_refusals

PAGE_SIZE = 20
PAGE_RENDER_WIDTH = 1000
HISTORY_LABELS = {
    "document.uploaded": "Uploaded",
    "document.version_added": "Uploaded as a new version",
    "document.scanned": "Passed the virus check",
    "document.quarantined": "Quarantined: virus found",
    "document.viewed": "Opened the document page",
    "document.downloaded": "Opened the file (download or preview)",
    "document.previewed": "Viewed a page preview",
    "document.versions_viewed": "Listed the versions",
    "document.url_issued": "Issued a download link",
    "document.updated": "Changed the details",
    "document.deleted": "Deleted",
    "document.restored": "Restored",
    "document.integrity_failed": "Failed its integrity check",
    "annotation.created": "Added an annotation",
    "annotation.deleted": "Deleted an annotation",
    "annotation.listed": "Listed the annotations",
    "access.denied": "Was refused access",
}


# --- plumbing ------------------------------------------------------------------------------


refusals_as_pages = portal_refusals(not_found="There is no such document, or it is not yours to see.")


def _portal(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return never_cache(login_required(refusals_as_pages(view)))


def _receives_files(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """csrf_exempt outside, hashing upload handler, csrf_protect inside (the body is parsed once)."""
    inner = csrf_protect(refusals_as_pages(view))

    @wraps(view)
    def outer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            request.upload_handlers = [HashingUploadHandler(request, tmp_dir=settings.FILE_UPLOAD_TEMP_DIR)]
        return inner(request, *args, **kwargs)

    return csrf_exempt(never_cache(login_required(outer)))


def _uploaded_files(request: HttpRequest, field: str) -> list:
    files = request.FILES.getlist(field)
    handler = request.upload_handlers[0]
    if isinstance(handler, HashingUploadHandler):
        handler.raise_for_refusal()
    return files


def _patient(user: User, patient_id: Any) -> Patient:
    return patient_get_for(user=user, patient_id=patient_id, action=PatientAction.VIEW)


def _stream_object(key: str, content_type: str) -> StreamingHttpResponse:
    try:
        chunks = storage.open_range(key)
    except FileNotFoundError as exc:
        raise NotFound() from exc
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


# --- the patient page's documents region ------------------------------------------------------


def patient_documents_context(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """What templates/documents/_patient_documents.html shows: filters, one page of documents, upload."""
    user = request.user
    allowed = allowed_categories(user)
    if allowed == frozenset():
        return {"no_role": True}
    form = DocumentFilterForm(request.GET or None, allowed=allowed)
    cleaned = form.cleaned_data if form.is_valid() else {}
    filters = DocumentFilters(
        patient_id=patient.pk,
        category=cleaned.get("category") or "",
        encounter_id=(cleaned.get("encounter_id") or "").strip(),
        date_from=cleaned.get("date_from"),
        date_to=cleaned.get("date_to"),
    )
    page = Paginator(document_list(user=user, filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action="document.listed",
        actor=user,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        details={
            "channel": "portal",
            "filters": {key: str(value) for key, value in cleaned.items() if value},
            "page": page.number,
            "documents": [str(document.pk) for document in page.object_list],
        },
    )
    keep = urlencode({key: value for key, value in request.GET.items() if key != "page" and value})
    return {
        "no_role": False,
        "filter_form": form,
        "filtered": bool(keep),
        "page": page,
        "keep": keep,
        "upload_form": UploadMetadataForm(allowed=allowed),
        "may_change_photo": access.may_write(user),
        "accept": ACCEPT,
    }


ACCEPT = ".pdf,.jpg,.jpeg,.png,.tif,.tiff,.dcm,application/pdf,image/jpeg,image/png,image/tiff,application/dicom"


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
def document_upload_view(request: HttpRequest, patient_id: str) -> HttpResponse:
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
def document_bulk_view(request: HttpRequest, patient_id: str) -> HttpResponse:
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


@_portal
@require_GET
def document_status(request: HttpRequest, document_id: str) -> JsonResponse:
    """Scan state for the upload list's polling (not audited: no content, only the check's progress)."""
    document = document_get_for(user=request.user, document_id=document_id, action="document.status")
    return JsonResponse(
        {
            "id": str(document.pk),
            "scan_status": document.scan_status,
            "label": document.get_scan_status_display(),
            "available": document.is_available,
            "url": reverse("documents:detail", args=[document.pk]),
        }
    )


# --- one document -----------------------------------------------------------------------------


def _annotation_json(annotation, user: User) -> dict[str, Any]:
    return {
        "id": str(annotation.pk),
        "kind": annotation.kind,
        "page": annotation.page,
        "geometry": annotation.geometry,
        "text": annotation.text,
        "author": {"id": annotation.author_id, "name": annotation.author.full_name},
        "created_at": annotation.created_at.isoformat(),
        "can_delete": may_delete_annotation(user, annotation),
    }


def _letter_url(document: Document) -> str:
    """The letter a sealed PDF renders; for an older version without its own, the patient's letters."""
    try:
        return reverse("letters:detail", args=[document.letter.pk])  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        return reverse("letters:patient_letters", args=[document.patient_id])


@_portal
@require_GET
def document_detail(request: HttpRequest, document_id: str) -> HttpResponse:
    user = request.user
    document = document_get_for(user=user, document_id=document_id, include_deleted=True)
    versions = list(document_versions(document=document))
    annotations = list(annotations_for(document=document))
    events = document_audit_events(document=document, version_ids=[version.pk for version in versions])
    audit_document(
        "document.viewed",
        document=document,
        actor=user,
        details={"channel": "portal", "version": document.version_number},
    )
    current = next((version for version in versions if version.is_current), None)
    allowed = allowed_categories(user)
    context = {
        "document": document,
        "patient": document.patient,
        "versions": versions,
        "current": current,
        "annotations": annotations,
        "annotation_data": [_annotation_json(annotation, user) for annotation in annotations],
        "annotation_kinds": AnnotationKind.choices,
        "events": [
            {"event": event, "label": HISTORY_LABELS.get(event.action) or action_label(event.action)}
            for event in events
        ],
        "is_pdf": document.content_type == "application/pdf",
        "is_image": document.content_type.startswith("image/") and document.content_type != "image/tiff",
        "is_tiff": document.content_type == "image/tiff",
        "may_replace": document.is_current
        and document.deleted_at is None
        and not document.sealed
        and (allowed is None or document.category in allowed),
        "may_delete": user.is_manager and document.deleted_at is None and not document.sealed,
        "may_annotate": not document.sealed,
        "letter_url": _letter_url(document) if document.sealed else "",
        "version_form": NewVersionForm(),
        "delete_form": DeleteForm(),
        "accept": ACCEPT,
        "content_url": reverse("documents-content", args=[document.pk]),
    }
    return render(request, "documents/detail.html", context)


@_portal
@require_GET
def document_thumbnail(request: HttpRequest, document_id: str) -> HttpResponse:
    """The WebP thumbnail made after a clean scan (covered by the list's `document.listed` event)."""
    document = document_get_for(user=request.user, document_id=document_id, action="document.thumbnail", related=())
    if not document.thumbnail_key or not document.is_available:
        raise NotFound()
    return _stream_object(document.thumbnail_key, "image/webp")


@_portal
@require_GET
def document_page_image(request: HttpRequest, document_id: str, page: int) -> HttpResponse:
    """One page of a PDF (or a TIFF's first page) as WebP, for the annotation surface; audited."""
    document = document_get_for(user=request.user, document_id=document_id, action="document.preview", related=())
    ensure_available(document)
    with tempfile.TemporaryDirectory(prefix="quill-page-") as workdir:
        local = os.path.join(workdir, "original")
        try:
            reader = storage.open_reader(document.storage_key)
        except FileNotFoundError as exc:
            raise NotFound() from exc
        with reader, open(local, "wb") as sink:
            shutil.copyfileobj(reader, sink, storage.CHUNK_SIZE)
        try:
            data, page_count = render_page(local, document.content_type, page, width=PAGE_RENDER_WIDTH)
        except ThumbnailError as exc:
            raise NotFound() from exc
    audit_document(
        "document.previewed",
        document=document,
        actor=request.user,
        details={"page": page},
    )
    response = HttpResponse(data, content_type="image/webp")
    response["X-Page-Count"] = str(page_count)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@_receives_files
@require_POST
def document_new_version_view(request: HttpRequest, document_id: str) -> HttpResponse:
    document = document_get_for(user=request.user, document_id=document_id, action="document.new_version")
    form = NewVersionForm(request.POST)
    try:
        files = _uploaded_files(request, "file")
        if not files:
            raise MissingFile()
        if not form.is_valid():
            raise QuillError("Check the title and clinical date, then upload again.")
        item = UploadRequest(
            spooled=files[0].spooled,
            filename=files[0].name or "",
            category=document.category,
            title=form.cleaned_data.get("title") or "",
            document_date=form.cleaned_data.get("document_date"),
        )
        new = document_new_version(actor=request.user, current=document, item=item)
    except PermissionDenied:
        raise
    except QuillError as refusal:
        messages.error(request, f"The new version was not stored: {refusal.message}")
        return redirect(reverse("documents:detail", args=[document.pk]) + "#replace")
    messages.success(request, f"Version {new.version_number} was uploaded; version {document.version_number} is kept.")
    return redirect("documents:detail", document_id=new.pk)


@_portal
@require_POST
def document_delete_view(request: HttpRequest, document_id: str) -> HttpResponse:
    document = document_get_for(user=request.user, document_id=document_id, action="document.delete")
    form = DeleteForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else request.POST.get("reason", "")
    try:
        document_soft_delete(actor=request.user, document=document, reason=reason)
    except PermissionDenied:
        raise
    except QuillError as refusal:
        messages.error(request, refusal.message)
        return redirect("documents:detail", document_id=document.pk)
    messages.success(request, f"“{document.title}” was deleted. An administrator can restore it from Deleted.")
    return redirect(reverse("patients:detail", args=[document.patient_id]) + "#documents")


@_portal
@require_POST
def annotation_delete_view(request: HttpRequest, document_id: str, annotation_id: str) -> HttpResponse:
    """The no-JavaScript delete button; the page's script uses the API instead."""
    document = document_get_for(user=request.user, document_id=document_id, action="annotation.delete")
    annotation = annotation_get_for(document=document, annotation_id=annotation_id)
    annotation_delete(actor=request.user, annotation=annotation)
    messages.success(request, "The annotation was deleted.")
    return redirect(reverse("documents:detail", args=[document.pk]) + "#annotations")


# --- administrators: deleted and quarantined ---------------------------------------------------


@_portal
@require_GET
def deleted_list(request: HttpRequest) -> HttpResponse:
    ensure_manager(user=request.user, doing="see deleted documents")
    page = Paginator(deleted_documents(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action="document.deleted_listed",
        actor=request.user,
        object_type="document",
        details={"page": page.number, "returned": len(page.object_list)},
    )
    return render(request, "documents/deleted.html", {"page": page})


@_portal
@require_POST
def document_restore_view(request: HttpRequest, document_id: str) -> HttpResponse:
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
def quarantine_list(request: HttpRequest) -> HttpResponse:
    ensure_manager(user=request.user, doing="see quarantined documents")
    page = Paginator(quarantined_documents(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action="document.quarantine_listed",
        actor=request.user,
        object_type="document",
        details={"page": page.number, "returned": len(page.object_list)},
    )
    return render(request, "documents/quarantine.html", {"page": page, "pending": ScanStatus.PENDING})


# --- profile photos ---------------------------------------------------------------------------


def _change_photo(request: HttpRequest, *, remove: Callable[[], Any], store: Callable[[Any], Any]) -> QuillError | None:
    """Remove or store the posted photo; a refusal is returned for the form, a permission error raised."""
    try:
        if request.POST.get("remove"):
            remove()
            messages.success(request, "The photo was removed.")
        else:
            files = _uploaded_files(request, "photo")
            if not files:
                raise MissingFile("Choose a photo to upload.")
            store(files[0].spooled)
            messages.success(request, "The photo was saved.")
    except PermissionDenied:
        raise
    except QuillError as error:
        return error
    return None


def _photo_form_response(request: HttpRequest, *, template_context: dict[str, Any], status: int) -> HttpResponse:
    return render(request, "documents/photo.html", template_context, status=status)


@_receives_files
@require_http_methods(["GET", "POST"])
def patient_photo_view(request: HttpRequest, patient_id: str) -> HttpResponse:
    patient = _patient(request.user, patient_id)
    refusal: QuillError | None = None
    if request.method == "POST":
        refusal = _change_photo(
            request,
            remove=lambda: patient_photo_remove(actor=request.user, patient=patient),
            store=lambda spooled: patient_photo_set(actor=request.user, patient=patient, spooled=spooled),
        )
        if refusal is None:
            return redirect("patients:detail", patient_id=patient.pk)
    context = {
        "subject_name": patient.display_name,
        "has_photo": bool(patient.photo_key),
        "photo_url": reverse("documents:patient_photo_image", args=[patient.pk, "photo"]),
        "back_url": reverse("patients:detail", args=[patient.pk]),
        "refusal": refusal,
        "may_change": access.may_write(request.user),
    }
    return _photo_form_response(request, template_context=context, status=refusal.http_status if refusal else 200)


@_portal
@require_GET
def patient_photo_image(request: HttpRequest, patient_id: str, size: str) -> HttpResponse:
    patient = _patient(request.user, patient_id)
    key = patient.photo_key if size == "photo" else patient.avatar_key
    if not key:
        raise NotFound()
    if size == "photo":
        audit_record(
            action="patient.photo_viewed",
            actor=request.user,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
        )
    return _stream_object(key, "image/webp")


def _colleague(user: User, user_id: int) -> User:
    colleague = User.objects.filter(pk=user_id, organisation_id=user.organisation_id, is_active=True).first()
    if colleague is None or user.organisation_id is None:
        raise NotFound()
    return colleague


@_receives_files
@require_http_methods(["GET", "POST"])
def user_photo_view(request: HttpRequest, user_id: int | None = None) -> HttpResponse:
    subject = request.user if user_id is None else _colleague(request.user, user_id)
    refusal: QuillError | None = None
    if request.method == "POST":
        refusal = _change_photo(
            request,
            remove=lambda: user_photo_remove(actor=request.user, user=subject),
            store=lambda spooled: user_photo_set(actor=request.user, user=subject, spooled=spooled),
        )
        if refusal is None:
            return redirect(request.path)
    context = {
        "subject_name": subject.full_name,
        "has_photo": bool(subject.photo_key),
        "photo_url": reverse("documents:user_photo_image", args=[subject.pk, "photo"]),
        "back_url": reverse("patients:list"),
        "refusal": refusal,
        "may_change": subject.pk == request.user.pk or request.user.is_manager,
    }
    return _photo_form_response(request, template_context=context, status=refusal.http_status if refusal else 200)


@_portal
@require_GET
def user_photo_image(request: HttpRequest, user_id: int, size: str) -> HttpResponse:
    colleague = _colleague(request.user, user_id)
    key = colleague.photo_key if size == "photo" else colleague.avatar_key
    if not key:
        raise NotFound()
    return _stream_object(key, "image/webp")
