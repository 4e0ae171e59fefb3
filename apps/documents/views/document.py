"""One document's pages: detail, status, thumbnail, page preview, new version, delete, annotations."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.documents.forms import DeleteForm, NewVersionForm
from apps.documents.models import AnnotationKind, Document
from apps.documents.permissions import allowed_categories, may_delete_annotation
from apps.documents.selectors import (
    annotation_get_for,
    annotations_for,
    document_activity,
    document_get_for,
    document_versions,
)
from apps.documents.services import UploadRequest, document_new_version, document_soft_delete
from apps.documents.services.annotations import annotation_delete
from apps.documents.services.delivery import ensure_available
from apps.documents.services.pages import (
    PAGED_TYPES,
    PageImage,
    PageSize,
    Served,
    document_page_rendition,
    page_etag,
)
from apps.documents.services.reading import document_record_read
from apps.documents.views._common import (
    ACCEPT,
    _portal,
    _portal_revalidated,
    _receives_files,
    _stream_object,
    _uploaded_files,
)
from apps.files.errors import MissingFile, ThumbnailError
from quill import extensions
from quill.errors import NotFound, PermissionDenied, QuillError
from quill.types import AuthenticatedHttpRequest

ZOOM_STEPS = (50, 75, 100, 125, 150, 200, 300, 400)  # percent of the page's real size (96 CSS px an inch)
VIEWER_KINDS = {"application/pdf": "pdf", "image/tiff": "tiff"}  # how the viewer shows a type; else as an image


@_portal
@require_GET
def document_status(request: AuthenticatedHttpRequest, document_id: str) -> JsonResponse:
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
        return reverse("letters:detail", args=[document.letter.pk])
    except ObjectDoesNotExist:
        return reverse("letters:patient_letters", args=[document.patient_id])


@_portal
@require_GET
def document_detail(request: AuthenticatedHttpRequest, document_id: str) -> HttpResponse:
    user = request.user
    document = document_get_for(user=user, document_id=document_id, include_deleted=True)
    versions = list(document_versions(user=user, document=document))
    annotations = list(annotations_for(document=document))
    activity = document_activity(
        document=document,
        version_ids=[version.pk for version in versions],
        before=_activity_cursor(request.GET.get("activity_before", "")),
    )
    document_record_read(
        action=Action.DOCUMENT_VIEWED,
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
        "activity": activity,
        "is_pdf": document.content_type == "application/pdf",
        "is_image": document.content_type.startswith("image/") and document.content_type != "image/tiff",
        "is_tiff": document.content_type == "image/tiff",
        "may_replace": document.is_current
        and document.deleted_at is None
        and not document.sealed
        and (allowed is None or document.category in allowed),
        "may_delete": user.is_manager and document.deleted_at is None and not document.sealed,
        "may_annotate": not document.sealed and document.is_current and document.deleted_at is None,
        "letter_url": _letter_url(document) if document.sealed else "",
        "version_form": NewVersionForm(),
        "delete_form": DeleteForm(),
        "accept": ACCEPT,
        "content_url": reverse("documents-content", args=[document.pk]),
        "viewer": {
            "kind": VIEWER_KINDS.get(document.content_type, "image"),
            "page_url": reverse("documents:page_image_sized", args=[document.pk, 1, PageSize.STANDARD]),
            "large_page_url": reverse("documents:page_image_sized", args=[document.pk, 1, PageSize.LARGE]),
            "plain_page_url": reverse("documents:page_image", args=[document.pk, 1]),
            "words_url": reverse("documents:page_words", args=[document.pk, 0]),
            "annotations_url": reverse("documents-annotations", args=[document.pk]),
            "content_url": reverse("documents-content", args=[document.pk]),
            "title": document.title,
            "zoom_steps": ZOOM_STEPS,
        },
    }
    for extra in extensions.ask(extensions.DOCUMENT_PAGE_CONTEXT, user=user, document=document):
        context.update(extra)
    return render(request, "documents/detail.html", context)


def _activity_cursor(value: str) -> int | None:
    """The "Older" link's cursor (an audit sequence number); anything else shows the newest events,
    as a page number out of range used to."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


@_portal
@require_GET
def document_thumbnail(request: AuthenticatedHttpRequest, document_id: str) -> StreamingHttpResponse:
    """The WebP thumbnail made after a clean scan (covered by the list's `document.listed` event)."""
    document = document_get_for(user=request.user, document_id=document_id, action="document.thumbnail", related=())
    if not document.thumbnail_key or not document.is_available:
        raise NotFound()
    return _stream_object(document.thumbnail_key, "image/webp")


@_portal_revalidated
@require_GET
def document_page_image(
    request: AuthenticatedHttpRequest, document_id: str, page: int, size: str = PageSize.STANDARD
) -> HttpResponse:
    """One page of a PDF (or a TIFF's only page) as WebP at one of the viewer's sizes; every request audited.

    The rendition is stored after its first rendering (`document_page_rendition`); the
    browser keeps it too but asks again each time (`no-cache` with an ETag), and a
    matching `If-None-Match` is answered 304 after the same checks and audit event.
    """
    try:
        chosen = PageSize(size)
    except ValueError:
        raise NotFound() from None
    document = document_get_for(user=request.user, document_id=document_id, action="document.preview", related=())
    ensure_available(document)
    if document.content_type not in PAGED_TYPES:
        raise NotFound()
    etag = page_etag(document, page, chosen)
    details: dict[str, Any] = {"page": page, "size": chosen.value}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        document_record_read(
            action=Action.DOCUMENT_PREVIEWED,
            document=document,
            actor=request.user,
            details={**details, "served": Served.NOT_MODIFIED.value},
        )
    else:
        try:
            image = document_page_rendition(document=document, page=page, size=chosen)
        except (FileNotFoundError, ThumbnailError) as exc:
            raise NotFound() from exc
        document_record_read(
            action=Action.DOCUMENT_PREVIEWED,
            document=document,
            actor=request.user,
            details={**details, "served": image.served.value},
        )
        return page_image_response(image, etag)
    return page_image_response(None, etag)


def page_image_response(image: PageImage | None, etag: str) -> HttpResponse:
    """A page image's answer (None: 304, the browser's copy is current): kept by the browser but
    asked for again each time, never sniffed or run as anything but an image. The document page and
    the inbox item page answer alike."""
    if image is None:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(image.data, content_type="image/webp")
        response["X-Page-Count"] = str(image.facts.page_count)
        response["X-Page-Size"] = f"{image.facts.page_width:.2f} {image.facts.page_height:.2f}"
        response["Content-Security-Policy"] = "default-src 'none'"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@_receives_files
@require_POST
def document_new_version_view(request: AuthenticatedHttpRequest, document_id: str) -> HttpResponse:
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
def document_delete_view(request: AuthenticatedHttpRequest, document_id: str) -> HttpResponse:
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
def annotation_delete_view(request: AuthenticatedHttpRequest, document_id: str, annotation_id: str) -> HttpResponse:
    """The no-JavaScript delete button; the page's script uses the API instead."""
    document = document_get_for(user=request.user, document_id=document_id, action="annotation.delete")
    annotation = annotation_get_for(document=document, annotation_id=annotation_id)
    annotation_delete(actor=request.user, annotation=annotation)
    messages.success(request, "The annotation was deleted.")
    return redirect(reverse("documents:detail", args=[document.pk]) + "#annotations")
