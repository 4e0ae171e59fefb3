"""REST API for patients: thin views over the selectors and services."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.actions import Action
from apps.audit.services import audit_denied
from apps.patients import access
from apps.patients.access import PatientAction
from apps.patients.errors import PatientInvalid, RoleRequired
from apps.patients.selectors import patient_get_for, patient_query_parse, patient_search
from apps.patients.serializers import (
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
from quill.api import Pagination
from quill.types import AuthenticatedRequest

SEARCH_PARAMETERS = [
    OpenApiParameter("q", str, description="Name (partial, any case), MRN, NHS number or date of birth"),
    OpenApiParameter("nhs_number", str, description="10 digits, spaces allowed"),
    OpenApiParameter("date_of_birth", str, description="1980-01-31 or 31/01/1980"),
    OpenApiParameter("mrn", str, description="Exact MRN"),
]


def _refuse(request: AuthenticatedRequest, attempted: str, message: str) -> RoleRequired:
    audit_denied(
        action=Action.ACCESS_DENIED, actor=request.user, reason="role_required", details={"attempted": attempted}
    )
    return RoleRequired(message)


class PatientListCreate(APIView):
    @extend_schema(parameters=SEARCH_PARAMETERS, responses=PatientSerializer(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        if not access.may_read_demographics(request.user):
            raise _refuse(request, "patient.list", "Your role does not include access to patient records.")
        params = {name: request.query_params.get(name, "") for name in ("q", "nhs_number", "date_of_birth", "mrn")}
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

    @extend_schema(request=PatientWriteSerializer, responses={201: PatientSerializer})
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
    @extend_schema(responses=PatientSerializer)
    def get(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.VIEW)
        patient_mark_viewed(actor=request.user, patient=patient, channel="api")
        return Response(PatientSerializer(patient).data)

    @extend_schema(request=PatientWriteSerializer, responses=PatientSerializer)
    def patch(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.EDIT)
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
        responses={201: BreakGlassGrantSerializer},
        description=f"Open a restricted record for {settings.QUILL_BREAK_GLASS_MINUTES} minutes (clinical roles).",
    )
    def post(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = patient_get_for(user=request.user, patient_id=patient_id, action=PatientAction.BREAK_GLASS)
        incoming = BreakGlassSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            grant = patient_break_glass(actor=request.user, patient=patient, reason=incoming.validated_data["reason"])
        except PatientInvalid as refusal:
            raise as_validation_error(refusal) from refusal
        return Response(BreakGlassGrantSerializer(grant).data, status=status.HTTP_201_CREATED)
