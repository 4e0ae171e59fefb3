"""REST API for patients: thin views over the selectors and services."""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.audit.actions import Action
from apps.audit.services import audit_denied
from apps.patients import access
from apps.patients.access import PatientAction
from apps.patients.errors import CODES_WITHOUT_CLASS as PATIENT_FIELD_CODES
from apps.patients.errors import (
    BreakGlassRequired,
    NotRestricted,
    PatientInvalid,
    RestrictedRecord,
    RoleRequired,
)
from apps.patients.selectors import patient_get_for, patient_query_parse, patient_search
from apps.patients.serializers import (
    PATIENT_LIST_ITEM,
    BreakGlassGrantSerializer,
    BreakGlassSerializer,
    PatientSerializer,
    PatientWriteSerializer,
    as_validation_error,
    patient_list_item,
)
from apps.patients.services import (
    patient_break_glass,
    patient_create,
    patient_mark_searched,
    patient_mark_viewed,
    patient_update,
)
from quill.api import APIView, Pagination, query_parameter_names, refuse_empty
from quill.errors import NotFound
from quill.openapi import BODY_REFUSALS, PAGE_PARAMETERS, page_of, refusals
from quill.types import AuthenticatedRequest

_EMPTY_REFUSED = " Sent empty, it is refused (400): leave out the parameters you do not use."
_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
SEARCH_PARAMETERS = [
    OpenApiParameter(
        "q", _TEXT, description="Name (partial, any case), MRN, NHS number or date of birth." + _EMPTY_REFUSED
    ),
    OpenApiParameter(
        "nhs_number",
        {"type": "string", "pattern": r"^\s*[0-9 -]*[0-9][0-9 -]*\s*$"},
        description="Digits; spaces and dashes between groups are allowed, anything else is refused (400)."
        + _EMPTY_REFUSED,
    ),
    OpenApiParameter(
        "date_of_birth",
        {"type": "string", "format": "date"},
        description="YYYY-MM-DD (DD/MM/YYYY is also understood); anything else is refused (400)." + _EMPTY_REFUSED,
    ),
    OpenApiParameter("mrn", _TEXT, description="Exact MRN." + _EMPTY_REFUSED),
    *PAGE_PARAMETERS,
]
SEARCH_FIELDS = ("q", "nhs_number", "date_of_birth", "mrn")
# The two spellings the API takes, each exactly (the portal's search box understands more).
DATE_OF_BIRTH_SPELLINGS = {
    re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"): "%Y-%m-%d",
    re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4}"): "%d/%m/%Y",
}


def _search_problems(params: dict[str, str | None]) -> dict[str, list[str]]:
    """A date of birth that is not a real date written YYYY-MM-DD or DD/MM/YYYY."""
    birth = params["date_of_birth"]
    if birth and birth.strip() and not _is_date_of_birth(birth):
        return {"date_of_birth": ["Enter the date of birth as 1980-01-31 or 31/01/1980."]}
    return {}


def _is_date_of_birth(text: str) -> bool:
    for spelling, date_format in DATE_OF_BIRTH_SPELLINGS.items():
        if spelling.fullmatch(text):
            try:
                datetime.strptime(text, date_format)
            except ValueError:
                return False
            return True
    return False


# Field problems found by the services (patients.errors.PatientInvalid), sent with `fields`.
PATIENT_FIELD_REFUSALS = tuple(PATIENT_FIELD_CODES.items())


def _refuse(request: AuthenticatedRequest, attempted: str, message: str) -> RoleRequired:
    audit_denied(
        action=Action.ACCESS_DENIED, actor=request.user, reason="role_required", details={"attempted": attempted}
    )
    return RoleRequired(message)


class PatientListCreate(APIView):
    query_parameters = {"get": query_parameter_names(SEARCH_PARAMETERS)}

    @extend_schema(
        operation_id="patients_list",
        parameters=SEARCH_PARAMETERS,
        responses={
            200: page_of("PatientListItem", PATIENT_LIST_ITEM),
            **refusals(RoleRequired, ("invalid", 400), NotFound),
        },
        description="Patients the caller may see. A restricted record the caller cannot open is listed by its "
        "identity only (`RestrictedPatient`, `can_open` false): break the glass to open it.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not access.may_read_demographics(request.user):
            raise _refuse(request, "patient.list", "Your role does not include access to patient records.")
        refuse_empty(request.query_params, SEARCH_FIELDS)
        sent = {name: request.query_params.get(name) for name in SEARCH_FIELDS}
        if problems := _search_problems(sent):
            raise ValidationError(problems)
        params = {name: value or "" for name, value in sent.items()}
        query = patient_query_parse(**params)
        if query.problems:
            fields = {}
            if params["date_of_birth"] and query.date_of_birth is None:
                fields["date_of_birth"] = ["Enter the date of birth as 31/01/1980 or 1980-01-31."]
            if params["nhs_number"] and not query.nhs_number:
                fields["nhs_number"] = ["An NHS number contains only digits (spaces are allowed between groups)."]
            raise ValidationError(fields)
        paginator = Pagination()
        page = paginator.paginate_queryset(patient_search(user=request.user, query=query), request, view=self)
        # REST_FRAMEWORK["PAGE_SIZE"] is set, so the paginator always paginates (it returns None only without one).
        assert page is not None and paginator.page is not None, "pagination needs a page size"
        patient_mark_searched(
            actor=request.user,
            criteria=query.as_details(),
            result_count=paginator.page.paginator.count,
            page=paginator.page.number,
            channel="api",
        )
        return paginator.get_paginated_response([patient_list_item(patient) for patient in page])

    @extend_schema(
        request=PatientWriteSerializer,
        responses={
            201: PatientSerializer,
            **refusals(RoleRequired, *BODY_REFUSALS, *PATIENT_FIELD_REFUSALS, request=PatientWriteSerializer),
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        if not access.may_write(request.user):
            raise _refuse(request, "patient.create", "Only clinical staff can register patients.")
        incoming = PatientWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            patient = patient_create(actor=request.user, **incoming.validated_data)
        except PatientInvalid as refusal:
            raise as_validation_error(refusal) from refusal
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetail(APIView):
    @extend_schema(
        responses={200: PatientSerializer, **refusals(NotFound, RoleRequired, BreakGlassRequired, RestrictedRecord)}
    )
    def get(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.VIEW)
        self.check_query_parameters(request)
        patient_mark_viewed(actor=request.user, patient=patient, channel="api")
        return Response(PatientSerializer(patient).data)

    @extend_schema(
        request=PatientWriteSerializer,
        responses={
            200: PatientSerializer,
            **refusals(
                NotFound, RoleRequired, BreakGlassRequired, RestrictedRecord, *BODY_REFUSALS, *PATIENT_FIELD_REFUSALS,
                request=PatientWriteSerializer,
            ),
        },
    )  # fmt: skip
    def patch(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.EDIT)
        self.check_query_parameters(request)
        incoming = PatientWriteSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        try:
            patient = patient_update(actor=request.user, patient=patient, fields=dict(incoming.validated_data))
        except PatientInvalid as refusal:
            raise as_validation_error(refusal) from refusal
        return Response(PatientSerializer(patient).data)


class PatientBreakGlass(APIView):
    @extend_schema(
        request=BreakGlassSerializer,
        responses={
            201: BreakGlassGrantSerializer,
            **refusals(
                NotFound,
                RoleRequired,
                NotRestricted,
                *BODY_REFUSALS,
                ("invalid_reason", 400),
                request=BreakGlassSerializer,
            ),
        },
        description=f"Open a restricted record for {settings.QUILL_BREAK_GLASS_MINUTES} minutes (clinical roles).",
    )
    def post(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.BREAK_GLASS)
        self.check_query_parameters(request)
        incoming = BreakGlassSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            grant = patient_break_glass(actor=request.user, patient=patient, reason=incoming.validated_data["reason"])
        except PatientInvalid as refusal:
            raise as_validation_error(refusal) from refusal
        return Response(BreakGlassGrantSerializer(grant).data, status=status.HTTP_201_CREATED)
