"""Portal pages for patients. Thin: parse, call a selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.selectors import audit_events_for_patient
from apps.audit.services import audit_denied, audit_record
from apps.patients import access
from apps.patients.access import PatientAction
from apps.patients.access_report import (
    AccessReportFilters,
    access_report_actions,
    access_report_csv,
    access_report_events,
    access_report_people,
    access_report_rows,
)
from apps.patients.errors import BreakGlassRequired, PatientInvalid
from apps.patients.forms import AccessReportFilterForm, BreakGlassForm, CareTeamAddForm, PatientForm, PatientSearchForm
from apps.patients.regions import patient_regions
from apps.patients.selectors import (
    break_glass_grants_visible_to,
    break_glass_live_grant,
    care_team_candidates,
    care_team_member_candidate_get,
    care_team_of,
    patient_get_for,
    patient_query_parse,
    patient_search,
)
from apps.patients.services import (
    EDITABLE_FIELDS,
    patient_break_glass,
    patient_care_team_add,
    patient_care_team_remove,
    patient_create,
    patient_mark_searched,
    patient_mark_viewed,
    patient_update,
)
from quill.errors import PermissionDenied, QuillError
from quill.portal import refusals_as_pages as portal_refusals
from quill.portal import render_refusal
from quill.types import AuthenticatedHttpRequest

PAGE_SIZE = 25
DOCUMENTS_TEMPLATE = "documents/_patient_documents.html"


def _documents_enabled() -> bool:
    """The documents app supplies the patient page's documents region once its template exists."""
    try:
        get_template(DOCUMENTS_TEMPLATE)
    except TemplateDoesNotExist:
        return False
    return True


def _break_glass_prompt(request: HttpRequest, refusal: QuillError, kwargs: dict[str, Any]) -> HttpResponse | None:
    """A restricted record offers the break-glass form instead of a plain refusal."""
    if not isinstance(refusal, BreakGlassRequired):
        return None
    context = {"patient_id": kwargs.get("patient_id"), "message": refusal.message}
    return render(request, "patients/break_glass_required.html", context, status=403)


refusals_as_pages = portal_refusals(
    not_found=(
        "There is no such patient record, or it is not one you can see. Check the link, or search for the patient."
    ),
    hook=_break_glass_prompt,
)


def _portal(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return never_cache(login_required(refusals_as_pages(view)))


def _require_listing_role(user: User) -> None:
    if not access.may_read_demographics(user):
        audit_denied(
            action=Action.ACCESS_DENIED, actor=user, reason="role_required", details={"attempted": "patient.list"}
        )
        raise PermissionDenied("Your role does not include access to patient records.")


@_portal
@require_http_methods(["GET"])
def patient_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_listing_role(request.user)
    form = PatientSearchForm(request.GET or None)
    raw = {name: request.GET.get(name, "") for name in ("q", "nhs_number", "date_of_birth", "mrn")}
    query = patient_query_parse(**raw)
    patients = patient_search(user=request.user, query=query)
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    patient_mark_searched(
        actor=request.user,
        criteria=query.as_details(),
        result_count=page.paginator.count,
        page=page.number,
        channel="portal",
    )
    keep = urlencode({key: value for key, value in raw.items() if value})
    context = {
        "form": form,
        "query": query,
        "page": page,
        "keep": keep,
        "can_create": access.may_write(request.user),
    }
    return render(request, "patients/list.html", context)


def _form_initial(patient: Any) -> dict[str, Any]:
    return {name: getattr(patient, name) for name in EDITABLE_FIELDS}


def _apply_problems(form: Form, refusal: PatientInvalid) -> None:
    for field, problems in refusal.fields.items():
        for message, _code in problems:
            form.add_error(field if field in form.fields else None, message)


@_portal
@require_http_methods(["GET", "POST"])
def patient_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not access.may_write(request.user):
        audit_denied(
            action=Action.ACCESS_DENIED,
            actor=request.user,
            reason="role_required",
            details={"attempted": "patient.create"},
        )
        raise PermissionDenied("Only clinical staff can register patients.")
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_create(actor=request.user, **form.cleaned_data)
        except PatientInvalid as refusal:
            _apply_problems(form, refusal)
        else:
            messages.success(request, f"{patient.display_name} has been registered.")
            return redirect("patients:detail", patient_id=patient.pk)
    return render(request, "patients/form.html", {"form": form, "patient": None}, status=_status(request, form))


def _status(request: HttpRequest, form: Any) -> int:
    return 400 if request.method == "POST" and form.errors else 200


@_portal
@require_http_methods(["GET", "POST"])
def patient_edit(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.EDIT)
    form = PatientForm(request.POST or None, initial=_form_initial(patient))
    if request.method == "POST" and form.is_valid():
        try:
            patient_update(actor=request.user, patient=patient, fields=form.cleaned_data)
        except PatientInvalid as refusal:
            _apply_problems(form, refusal)
        else:
            messages.success(request, "The changes have been saved.")
            return redirect("patients:detail", patient_id=patient.pk)
    if request.method == "GET":
        patient_mark_viewed(actor=request.user, patient=patient, channel="portal-edit")
    return render(request, "patients/form.html", {"form": form, "patient": patient}, status=_status(request, form))


@_portal
@require_http_methods(["GET"])
def patient_detail(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.VIEW)
    patient_mark_viewed(actor=request.user, patient=patient, channel="portal")
    user = request.user
    may_manage_team = user.is_manager or access.is_on_care_team(user, patient)
    context = {
        "patient": patient,
        "care_team": care_team_of(patient=patient),
        "grant": break_glass_live_grant(user=user, patient=patient) if patient.restricted else None,
        "can_edit": access.may_write(user),
        "can_see_access_report": user.is_clinical or user.is_manager,
        "may_manage_team": may_manage_team,
        "team_form": CareTeamAddForm(candidates=care_team_candidates(patient=patient)) if may_manage_team else None,
        "documents_enabled": _documents_enabled(),
    }
    if context["documents_enabled"]:
        context.update(patient_regions(request, patient))
    return render(request, "patients/detail.html", context)


@_portal
@require_http_methods(["GET", "POST"])
def patient_break_glass_view(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.BREAK_GLASS)
    if not patient.restricted or access.may_open_restricted(request.user, patient):
        return redirect("patients:detail", patient_id=patient.pk)
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grant = patient_break_glass(actor=request.user, patient=patient, reason=form.cleaned_data["reason"])
        except PatientInvalid as refusal:
            _apply_problems(form, refusal)
        else:
            until = grant.expires_at.astimezone().strftime("%H:%M")
            messages.warning(request, f"You have opened this restricted record until {until}. This has been recorded.")
            return redirect("patients:detail", patient_id=patient.pk)
    context = {"form": form, "patient_id": patient.pk, "minutes": f"{settings.QUILL_BREAK_GLASS_MINUTES} minutes"}
    return render(request, "patients/break_glass.html", context, status=_status(request, form))


@_portal
@require_http_methods(["GET"])
def patient_access_report(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    """Who viewed or changed the record: filtered by date, person and kind of event; `?format=csv` exports it."""
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.ACCESS_REPORT)
    form = AccessReportFilterForm(
        request.GET or None,
        people=access_report_people(patient=patient),
        actions=access_report_actions(patient=patient),
    )
    valid = form.is_valid() if form.is_bound else True
    cleaned = form.cleaned_data if form.is_bound and valid else {}
    filters = AccessReportFilters(
        date_from=cleaned.get("date_from"),
        date_to=cleaned.get("date_to"),
        actor_id=cleaned.get("person"),
        action=cleaned.get("action") or "",
    )
    events = (
        access_report_events(patient=patient, filters=filters)
        if valid
        else audit_events_for_patient(patient=patient).none()
    )
    if request.GET.get("format") == "csv" and valid:
        rows = access_report_rows(list(events))
        audit_record(
            action=Action.PATIENT_ACCESS_REPORT_EXPORTED,
            actor=request.user,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
            details={"filters": filters.as_details(), "rows": len(rows)},
        )
        response = HttpResponse(access_report_csv(rows), content_type="text/csv; charset=utf-8")
        filename = f"access-report-{patient.mrn or patient.pk}.csv"
        response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
        return response
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    # Read the page before recording this reading: a page read afterwards would start with the new
    # event and push the oldest row, counted already, off the end.
    rows = access_report_rows(list(page.object_list))
    audit_record(
        action=Action.PATIENT_ACCESS_REPORT_VIEWED,
        actor=request.user,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        details={"page": page.number, "filters": filters.as_details()},
    )
    kept = {key: value for key, value in request.GET.items() if key not in ("page", "format")}
    keep = urlencode({key: value for key, value in kept.items() if isinstance(value, str) and value})
    context = {
        "patient": patient,
        "page": page,
        "rows": rows,
        "form": form,
        "filters_invalid": not valid,
        "keep": keep,
    }
    return render(request, "patients/access_report.html", context)


@_portal
@require_POST
def patient_care_team_add_view(request: AuthenticatedHttpRequest, patient_id: str) -> HttpResponse:
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.CARE_TEAM)
    form = CareTeamAddForm(request.POST, candidates=care_team_candidates(patient=patient))
    if form.is_valid():
        member = care_team_member_candidate_get(patient=patient, user_id=form.cleaned_data["member"])
        try:
            patient_care_team_add(actor=request.user, patient=patient, member=member)
        except PatientInvalid as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, f"{member.full_name} is now on the care team.")
    else:
        messages.error(request, "Choose someone from the list to add to the care team.")
    return redirect(reverse("patients:detail", kwargs={"patient_id": patient.pk}) + "#care-team")


@_portal
@require_POST
def patient_care_team_remove_view(request: AuthenticatedHttpRequest, patient_id: str, user_id: int) -> HttpResponse:
    patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.CARE_TEAM)
    member = care_team_member_candidate_get(patient=patient, user_id=user_id)
    patient_care_team_remove(actor=request.user, patient=patient, member=member)
    messages.success(request, f"{member.full_name} is no longer on the care team.")
    return redirect(reverse("patients:detail", kwargs={"patient_id": patient.pk}) + "#care-team")


@never_cache
@login_required
@require_GET
def break_glass_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every break-glass opening in the organisation, newest first, with reason and expiry (managers only).

    Served at /audit/break-glass/ (quill/urls.py): the managers' review area, though the grants are patients'.
    """
    if not request.user.is_manager:
        attempted = {"attempted": "break_glass.list"}
        audit_denied(action=Action.ACCESS_DENIED, actor=request.user, reason="role_required", details=attempted)
        message = "Only administrators and owners can review break-glass openings."
        return render_refusal(request, message, 403)
    page = Paginator(break_glass_grants_visible_to(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action=Action.AUDIT_BREAK_GLASS_LISTED,
        actor=request.user,
        object_type="break_glass_access",
        details={"page": page.number},
    )
    return render(request, "patients/break_glass_log.html", {"page": page})
