from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from quill.api import APIView


class ApiRootView(APIView):
    """Where the API's parts are; authentication is `Authorization: Token <key>`."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "schema": reverse("api-schema", request=request),
                "docs": reverse("api-docs", request=request),
                "patients": request.build_absolute_uri("/api/patients/"),
                "documents": request.build_absolute_uri("/api/documents/"),
                "audit": request.build_absolute_uri("/api/audit/"),
                "fhir": request.build_absolute_uri("/fhir/r4/metadata"),
            }
        )
