"""Profile photos of patients and colleagues: the form and the images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.photos import user_photo_remove, user_photo_set
from apps.accounts.selectors import colleague_get_for
from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.views._common import _patient, _portal, _receives_files, _stream_object, _uploaded_files
from apps.files.errors import MissingFile
from apps.patients import access
from apps.patients.photos import patient_photo_remove, patient_photo_set
from quill.errors import NotFound, PermissionDenied, QuillError
from quill.types import AuthenticatedHttpRequest

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
def patient_photo_view(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
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
        "patient": patient,
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
def patient_photo_image(request: AuthenticatedHttpRequest, patient_id: str, size: str) -> StreamingHttpResponse:
    patient = _patient(request.user, patient_id)
    key = patient.photo_key if size == "photo" else patient.avatar_key
    if not key:
        raise NotFound()
    if size == "photo":
        audit_record(
            action=Action.PATIENT_PHOTO_VIEWED,
            actor=request.user,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
        )
    return _stream_object(key, "image/webp")


@_receives_files
@require_http_methods(["GET", "POST"])
def user_photo_view(request: AuthenticatedHttpRequest, user_id: int | None = None) -> HttpResponse:
    subject = request.user if user_id is None else colleague_get_for(user=request.user, user_id=user_id)
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
def user_photo_image(request: AuthenticatedHttpRequest, user_id: int, size: str) -> StreamingHttpResponse:
    colleague = colleague_get_for(user=request.user, user_id=user_id)
    key = colleague.photo_key if size == "photo" else colleague.avatar_key
    if not key:
        raise NotFound()
    return _stream_object(key, "image/webp")
