"""Portal pages of clinical review: assign from the document page, "My reviews", the overdue report."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.audit.actions import Action
from apps.audit.models import Outcome
from apps.audit.reasons import ROLE_REQUIRED
from apps.audit.services import audit_record
from apps.documents.selectors import document_get_for
from apps.reviews.forms import AssignReviewForm, CompleteReviewForm
from apps.reviews.models import Review, ReviewState
from apps.reviews.selectors import document_reviews, overdue_reviews, review_in_organisation, reviews_waiting_for
from apps.reviews.services import assign_review, complete_review, ensure_may_review
from quill.errors import NotFound, PermissionDenied, ValidationFailed
from quill.portal import refusals_as_pages
from quill.types import AuthenticatedHttpRequest

PAGE_SIZE = 25
_refusals = refusals_as_pages(not_found="There is no such review or document, or it is not yours to see.")


def _portal(view: Any) -> Any:
    return never_cache(login_required(_refusals(view)))


def _ensure_clinical_list(request: AuthenticatedHttpRequest, attempted: str, *, managers_only: bool = False) -> None:
    user = request.user
    allowed = user.is_manager if managers_only else user.is_clinical
    if allowed:
        return
    audit_record(
        action=Action.ACCESS_DENIED,
        actor=user,
        outcome=Outcome.DENIED,
        object_type="review",
        details={"reason": ROLE_REQUIRED, "attempted": attempted},
    )
    if managers_only:
        raise PermissionDenied("Only administrators and owners may see the organisation's overdue reviews.")
    raise PermissionDenied("Only clinicians, administrators and owners review documents.")


@_portal
@require_POST
def document_review_assign(request: AuthenticatedHttpRequest, document_id: str) -> HttpResponse:
    """The document page's "Assign for review" form; errors re-render the form on this page."""
    user = request.user
    document = document_get_for(user=user, document_id=document_id, action="review.assign")
    ensure_may_review(actor=user, document=document, attempted="review.assign")
    form = AssignReviewForm(request.POST, organisation_id=document.organisation_id)
    if form.is_valid():
        try:
            assign_review(
                document,
                priority=form.cleaned_data["priority"],
                due_date=form.cleaned_data["due_date"],
                note=form.cleaned_data["note"],
                assigned_by=user,
                **form.assignee(),
            )
        except ValidationFailed as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, "The document was assigned for review.")
            return redirect(reverse("documents:detail", args=[document.pk]) + "#reviews")
    context = {"document": document, "patient": document.patient, "form": form}
    return render(request, "reviews/assign.html", context, status=400)


def document_review_context(*, user: Any, document: Any) -> dict[str, Any]:
    """The document page's review section: every review of the document and, for clinical roles, the form."""
    reviews = list(document_reviews(document.pk))
    today = timezone.localdate()
    return {
        "open_reviews": [(r, r.due_date < today) for r in reviews if r.state == ReviewState.OPEN],
        "completed_reviews": [r for r in reviews if r.state == ReviewState.COMPLETED],
        "review_form": AssignReviewForm(organisation_id=document.organisation_id) if user.is_clinical else None,
    }


@_portal
@require_GET
def my_reviews(request: AuthenticatedHttpRequest) -> HttpResponse:
    _ensure_clinical_list(request, "review.list")
    return _my_reviews_page(request)


def _my_reviews_page(
    request: AuthenticatedHttpRequest, *, failed: Review | None = None, form: CompleteReviewForm | None = None
) -> HttpResponse:
    user = request.user
    page = Paginator(reviews_waiting_for(user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    audit_record(
        action=Action.REVIEW_LISTED,
        actor=user,
        object_type="review",
        details={"channel": "portal", "count": len(rows)},
    )
    today = timezone.localdate()
    forms = {}
    for review in rows:
        if failed is not None and review.pk == failed.pk and form is not None:
            forms[review.pk] = form
        else:
            forms[review.pk] = CompleteReviewForm(
                organisation_id=user.organisation_id, actor=user, auto_id=f"id_{review.pk}_%s"
            )
    context = {
        "page": page,
        "rows": [(review, forms[review.pk], review.due_date < today) for review in rows],
        "failed": failed,
    }
    return render(request, "reviews/mine.html", context, status=400 if failed else 200)


@_portal
@require_POST
def review_complete(request: AuthenticatedHttpRequest, review_id: str) -> HttpResponse:
    user = request.user
    try:
        review_uuid: uuid.UUID | None = uuid.UUID(review_id)
    except ValueError:
        review_uuid = None
    review = (
        review_in_organisation(review_id=review_uuid, organisation_id=user.organisation_id)
        if review_uuid is not None and user.organisation_id is not None
        else None
    )
    if review is None:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=user,
            outcome=Outcome.DENIED,
            object_type="review",
            details={"reason": "not_found", "attempted": "review.complete", "review": str(review_id)[:64]},
        )
        raise NotFound()
    form = CompleteReviewForm(
        request.POST, organisation_id=review.organisation_id, actor=user, auto_id=f"id_{review.pk}_%s"
    )
    ensure_may_review(actor=user, document=review.document, attempted="review.complete")
    if form.is_valid():
        try:
            complete_review(
                review,
                actor=user,
                outcome=form.cleaned_data["outcome"],
                text=form.cleaned_data["text"],
                forward_to=form.forward_to_user(),
                forward_due_date=form.cleaned_data["forward_due_date"],
            )
        except ValidationFailed as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, f"Review of “{review.document.title}” completed.")
            return redirect("reviews:mine")
    return _my_reviews_page(request, failed=review, form=form)


@_portal
@require_GET
def overdue_report(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The organisation's overdue reviews (administrators and owners); `?format=csv` exports them all."""
    _ensure_clinical_list(request, "review.overdue_report", managers_only=True)
    user = request.user
    reviews = overdue_reviews(organisation_id=user.organisation_id) if user.organisation_id else Review.objects.none()
    today = timezone.localdate()
    if request.GET.get("format") == "csv":
        rows = list(reviews)
        audit_record(
            action=Action.REVIEW_LISTED,
            actor=user,
            object_type="review",
            details={"channel": "portal", "report": "overdue", "format": "csv", "count": len(rows)},
        )
        response = HttpResponse(_overdue_csv(rows, today=today), content_type="text/csv; charset=utf-8")
        filename = f"overdue-reviews-{today.isoformat()}.csv"
        response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
        return response
    page = Paginator(reviews, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    audit_record(
        action=Action.REVIEW_LISTED,
        actor=user,
        object_type="review",
        details={"channel": "portal", "report": "overdue", "count": len(rows)},
    )
    context = {"page": page, "rows": [(review, (today - review.due_date).days) for review in rows]}
    return render(request, "reviews/overdue.html", context)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "Due",
    "Days overdue",
    "Priority",
    "Patient",
    "MRN",
    "Document",
    "Assigned to",
    "Assigned by",
    "Assigned",
]


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _overdue_csv(rows: list[Review], *, today: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for review in rows:
        patient = review.document.patient
        cells = [
            review.due_date.isoformat(),
            str((today - review.due_date).days),
            review.get_priority_display(),
            patient.display_name,
            patient.mrn or "",
            review.document.title,
            review.assigned_to_label,
            str(review.assigned_by),
            timezone.localtime(review.assigned_at).strftime("%Y-%m-%d %H:%M"),
        ]
        writer.writerow([_cell(cell) for cell in cells])
    return buffer.getvalue()
