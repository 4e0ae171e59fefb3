"""GET /api/audit/: the caller's organisation's audit events, for administrators and owners."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.audit.actions import Action
from apps.audit.errors import AuditFilterInvalid
from apps.audit.selectors import audit_event_search, audit_filters_parse
from apps.audit.serializers import AuditEventSerializer
from apps.audit.services import audit_denied, audit_record
from quill.api import APIView, Pagination, query_parameter_names, refuse_empty
from quill.errors import PermissionDenied
from quill.openapi import PAGE_PARAMETERS, paginated, refusals
from quill.types import AuthenticatedRequest

FILTERS = ("patient_id", "actor", "action", "date_from", "date_to")
_EMPTY = " Sent empty, it is refused (400): leave out the filters you do not use."
_MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}


PARAMETERS = [
    OpenApiParameter("patient_id", {"type": "string", "format": "uuid"}, description="A patient's id." + _EMPTY),
    OpenApiParameter("actor", _TEXT, description="A user id or email address." + _EMPTY),
    OpenApiParameter("action", _TEXT, description="Exact action, or a prefix ending in '.' or '*'." + _EMPTY),
    OpenApiParameter("date_from", _MOMENT, description="ISO date or date-time, inclusive." + _EMPTY),
    OpenApiParameter("date_to", _MOMENT, description="ISO date (the whole day) or date-time, inclusive." + _EMPTY),
    *PAGE_PARAMETERS,
]


class AuditEventList(APIView):
    query_parameters = {"get": query_parameter_names(PARAMETERS)}

    @extend_schema(
        parameters=PARAMETERS,
        operation_id="audit_list",
        responses={
            200: paginated(AuditEventSerializer),
            **refusals(PermissionDenied, ("invalid", 400), ("not_found", 404)),
        },
        description="The organisation's audit trail, newest first (administrators and owners).",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not request.user.is_manager:
            details = {"attempted": "audit.list"}
            audit_denied(action=Action.ACCESS_DENIED, actor=request.user, reason="role_required", details=details)
            raise PermissionDenied("Only administrators and owners can read the audit trail.")
        refuse_empty(request.query_params, FILTERS)
        try:
            filters = audit_filters_parse(**{name: request.query_params.get(name, "") for name in FILTERS})
        except AuditFilterInvalid as problem:
            raise ValidationError({problem.field: [problem.message]}) from problem
        paginator = Pagination()
        page = paginator.paginate_queryset(audit_event_search(user=request.user, filters=filters), request, view=self)
        audit_record(
            action=Action.AUDIT_SEARCHED,
            actor=request.user,
            object_type="audit_event",
            details={
                "criteria": filters.as_details(),
                "page": paginator.page.number if paginator.page else 1,
                "channel": "api",
            },
        )
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
