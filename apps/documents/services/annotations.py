"""Annotations on a document's pages: the services that add and remove them (reads are selectors).

Geometry is stored in page-relative coordinates (0..1 from the top-left corner),
so an annotation stays put whatever size the preview is drawn at:

- ``marker``: ``{"x", "y"}``
- ``highlight``: ``{"x", "y", "width", "height"}``
- ``drawing``: ``{"points": [[x, y], ...]}`` (2 to 2,000 points)
- ``text``: ``{"x", "y"}`` plus a non-empty ``text``

The caller has already authorised the document with ``document_get_for``
(organisation, role and restricted-record rules).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.documents.errors import AnnotationInvalid, VersionSuperseded
from apps.documents.models import Annotation, AnnotationKind, Document
from apps.documents.permissions import ensure_not_sealed, may_delete_annotation
from quill.errors import Conflict, NotFound, PermissionDenied

MAX_POINTS = 2000
MAX_TEXT = 2000
MAX_PAGE = 10_000


# --- checks: one small function per rule ------------------------------------------------


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnnotationInvalid(f"'{name}' must be a number between 0 and 1 (a fraction of the page).")
    if not 0 <= value <= 1:
        raise AnnotationInvalid(f"'{name}' must lie on the page (between 0 and 1).")
    return round(float(value), 5)


def _point(geometry: dict) -> dict[str, float]:
    return {"x": _fraction(geometry.get("x"), "x"), "y": _fraction(geometry.get("y"), "y")}


def _rectangle(geometry: dict) -> dict[str, float]:
    rectangle = _point(geometry)
    rectangle["width"] = _fraction(geometry.get("width"), "width")
    rectangle["height"] = _fraction(geometry.get("height"), "height")
    if rectangle["width"] == 0 or rectangle["height"] == 0:
        raise AnnotationInvalid("A highlight needs a width and a height; drag across the area to highlight.")
    if rectangle["x"] + rectangle["width"] > 1.00001 or rectangle["y"] + rectangle["height"] > 1.00001:
        raise AnnotationInvalid("A highlight must lie on the page.")
    return rectangle


def _path(geometry: dict) -> dict[str, list[list[float]]]:
    points = geometry.get("points")
    if not isinstance(points, list) or not 2 <= len(points) <= MAX_POINTS:
        raise AnnotationInvalid(f"A drawing is a list of 2 to {MAX_POINTS} points.")
    cleaned = []
    for point in points:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise AnnotationInvalid("Each point of a drawing is a pair [x, y].")
        cleaned.append([_fraction(point[0], "x"), _fraction(point[1], "y")])
    return {"points": cleaned}


# Keyed by the kinds (str enum members), looked up by the checked str.
_GEOMETRY: dict[str, Callable[[dict], object]] = {
    AnnotationKind.MARKER: _point,
    AnnotationKind.TEXT: _point,
    AnnotationKind.HIGHLIGHT: _rectangle,
    AnnotationKind.DRAWING: _path,
}


def _check_kind(kind: str) -> str:
    if kind not in AnnotationKind.values:
        raise AnnotationInvalid("The kind of annotation must be one of: marker, highlight, drawing, text.")
    return kind


def _check_page(page: Any, document: Document) -> int:
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
        raise AnnotationInvalid("The page must be a page number, starting at 1.")
    if not document.content_type == "application/pdf" and page != 1:
        raise AnnotationInvalid("An image has one page: annotate page 1.")
    return page


def _check_text(kind: str, text: Any) -> str:
    text = (text or "").strip() if isinstance(text, str | type(None)) else None
    if text is None:
        raise AnnotationInvalid("The note must be text.")
    if len(text) > MAX_TEXT:
        raise AnnotationInvalid(f"A note can be at most {MAX_TEXT} characters long.")
    if kind == AnnotationKind.TEXT and not text:
        raise AnnotationInvalid("Write the note's text before saving it.")
    return text


def _check_document(document: Document) -> None:
    if not document.is_current:
        raise VersionSuperseded(document_id=str(document.pk))
    if document.deleted_at is not None:
        raise Conflict("This document has been deleted; restore it before annotating it.")
    if not document.is_available:
        raise Conflict("This document cannot be opened yet, so it cannot be annotated.")


# --- services ----------------------------------------------------------------------------


def annotation_create(
    *, actor: User, document: Document, kind: str, page: Any, geometry: Any, text: Any = ""
) -> Annotation:
    """Add an annotation to a page; audited as `annotation.created`."""
    ensure_not_sealed(actor=actor, document=document, attempted="annotation.create")
    _check_document(document)
    kind = _check_kind(kind)
    page = _check_page(page, document)
    if not isinstance(geometry, dict):
        raise AnnotationInvalid("The annotation's geometry must be an object.")
    shape = _GEOMETRY[kind](geometry)
    note = _check_text(kind, text)
    with transaction.atomic():
        annotation = Annotation.objects.create(
            document=document, kind=kind, page=page, geometry=shape, text=note, author=actor
        )
        audit_record(
            action=Action.ANNOTATION_CREATED,
            actor=actor,
            organisation_id=document.organisation_id,
            patient_id=document.patient_id,
            object_type="annotation",
            object_id=annotation.pk,
            details={"document_id": str(document.pk), "kind": kind, "page": page},
        )
    return annotation


def annotation_delete(*, actor: User, annotation: Annotation) -> None:
    """Remove an annotation: its author or an administrator/owner; audited as `annotation.deleted`."""
    document = annotation.document
    ensure_not_sealed(actor=actor, document=document, attempted="annotation.delete")
    if not document.is_current:
        raise VersionSuperseded(document_id=str(document.pk))
    if not may_delete_annotation(actor, annotation):
        audit_denied(
            action=Action.ACCESS_DENIED,
            actor=actor,
            reason="not_author",
            organisation_id=document.organisation_id,
            patient_id=document.patient_id,
            object_type="annotation",
            object_id=annotation.pk,
            details={"attempted": "annotation.delete", "document_id": str(document.pk)},
        )
        raise PermissionDenied("Only the person who added this annotation, or an administrator, may delete it.")
    with transaction.atomic():
        deleted, _ = Annotation.objects.filter(pk=annotation.pk).delete()
        if not deleted:
            raise NotFound()
        audit_record(
            action=Action.ANNOTATION_DELETED,
            actor=actor,
            organisation_id=document.organisation_id,
            patient_id=document.patient_id,
            object_type="annotation",
            object_id=annotation.pk,
            details={
                "document_id": str(document.pk),
                "kind": annotation.kind,
                "page": annotation.page,
                "author_id": annotation.author_id,
            },
        )
