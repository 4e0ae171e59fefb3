"""Plumbing shared by the documents portal pages.

Views that receive files swap in HashingUploadHandler before anything reads the
body: they are csrf_exempt on the outside and csrf_protect on the inside (see
apps/files/upload_handler.py), so the CSRF check itself parses the body
with the hashing handler.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from apps.accounts.models import User
from apps.files import storage
from apps.files.upload_handler import HashingUploadHandler
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import patient_get_for
from quill.errors import NotFound
from quill.input_guard import check_data
from quill.portal import refusals_as_pages as portal_refusals

PAGE_SIZE = 20

ACCEPT = ".pdf,.jpg,.jpeg,.png,.tif,.tiff,.dcm,application/pdf,image/jpeg,image/png,image/tiff,application/dicom"


# --- plumbing ------------------------------------------------------------------------------


refusals_as_pages = portal_refusals(not_found="There is no such document, or it is not yours to see.")


def _portal(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    return never_cache(login_required(refusals_as_pages(view)))


def _portal_revalidated(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Like `_portal`, for images the browser may keep but must ask about every time (ETag, no-cache).

    The view sets `Cache-Control: private, no-cache` on its 200 and 304 answers, so each
    view still reaches the server, is authorised and audited; anything else it answers
    (refusals, redirects to sign in) is never stored.
    """
    inner = login_required(refusals_as_pages(view))

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = inner(request, *args, **kwargs)
        if response.status_code not in (200, 304):
            add_never_cache_headers(response)
        return response

    return wrapper


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
    """The files posted in `field`; the form's other fields are checked here, where the body is parsed.

    A multipart body is parsed only after the hashing handler is installed, so the input guard
    (quill/input_guard.py) cannot check it first.
    """
    check_data(dict(request.POST.lists()), "form")
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
