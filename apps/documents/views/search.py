"""The portal's search of documents' text: organisation-wide, or one patient's (`?patient=`), and the
word boxes that let the viewer highlight the hits on a page (docs/search.md)."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.actions import Action
from apps.documents.forms import DocumentSearchForm
from apps.documents.permissions import ensure_document_role
from apps.documents.search.query import SearchScope, document_search
from apps.documents.selectors import document_get_for
from apps.documents.services.delivery import ensure_available
from apps.documents.services.reading import document_record_read
from apps.documents.services.searching import document_search_record
from apps.documents.views._common import PAGE_SIZE, _portal
from apps.files import storage
from apps.files.extraction import pdf_word_boxes
from apps.patients.access import PatientAction
from apps.patients.selectors import patient_get_for
from quill.types import AuthenticatedHttpRequest

_WORD = re.compile(r"\w+", re.UNICODE)
_SUFFIXES = ("ing", "ed", "es", "s")


@_portal
@require_GET
def document_search_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    allowed = ensure_document_role(user=request.user)
    patient = None
    patient_id = request.GET.get("patient", "")
    if patient_id:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.VIEW)
    form = DocumentSearchForm(request.GET or None, allowed=allowed)
    context: dict[str, Any] = {"form": form, "patient": patient, "results": None}
    if form.is_bound and form.is_valid() and form.cleaned_data["q"]:
        data = form.cleaned_data
        page = _page_number(request.GET.get("page"))
        scope = SearchScope(
            patient_id=patient.pk if patient else None,
            category=data["category"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
        results = document_search(
            user=request.user, q=data["q"], scope=scope, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        document_search_record(actor=request.user, q=data["q"], scope=scope, results=results.total, via="portal")
        keep = {key: value for key, value in request.GET.items() if key != "page" and value}
        pages = max(1, -(-results.total // PAGE_SIZE))
        context.update(
            results=results,
            page=page,
            pages=pages,
            previous_url=f"?{urlencode({**keep, 'page': page - 1})}" if page > 1 else "",
            next_url=f"?{urlencode({**keep, 'page': page + 1})}" if page < pages else "",
            highlight=urlencode({"hl": data["q"]}),
        )
    return render(request, "documents/search.html", context)


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


@_portal
@require_GET
def document_page_words(request: AuthenticatedHttpRequest, document_id: str, page: int) -> HttpResponse:
    """Boxes of the words on one page that match `?q=` (from the text layer: the PDF's own, or OCR's
    PDF/A), as fractions of the page, for the viewer to highlight. Audited as a page preview."""
    document = document_get_for(user=request.user, document_id=document_id, action="document.preview", related=())
    ensure_available(document)
    terms = {_stem(word) for word in _WORD.findall(request.GET.get("q", "")[:200].lower())}
    key = document.text_rendition_key or (document.storage_key if document.content_type == "application/pdf" else "")
    boxes: list[dict[str, float]] = []
    if terms and key:
        with tempfile.TemporaryDirectory(prefix="quill-words-") as workdir:
            local = os.path.join(workdir, f"{uuid.uuid4().hex}.pdf")
            with storage.open_reader(key) as reader, open(local, "wb") as sink:
                for chunk in iter(lambda: reader.read(storage.CHUNK_SIZE), b""):
                    sink.write(chunk)
            words = pdf_word_boxes(local, page_number=page)
        boxes = [
            {"x": word.x, "y": word.y, "width": word.width, "height": word.height}
            for word in words
            if _stem(word.text.lower()) in terms
        ]
    document_record_read(
        action=Action.DOCUMENT_PREVIEWED,
        document=document,
        actor=request.user,
        details={"page": page, "served": "word_boxes", "boxes": len(boxes)},
    )
    return JsonResponse({"page": page, "boxes": boxes})


def _stem(word: str) -> str:
    """A rough English stem, so "reviews" on the page lights up for a search for "reviewing"."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
