"""A document's bytes: streamed, by signed link, or a link to fetch them."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiToken
from apps.audit.actions import Action
from apps.documents.errors import RangeNotSatisfiable
from apps.documents.selectors import document_get_for
from apps.documents.serializers import DownloadUrlSerializer
from apps.documents.services.delivery import (
    document_content_response,
    ensure_available,
    range_not_satisfiable_response,
)
from apps.documents.services.links import signed_link_issue, signed_link_open
from apps.documents.services.reading import document_record_read
from apps.files import storage
from apps.files.filenames import content_disposition
from quill.types import AuthenticatedRequest


class DocumentContentView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("disposition", str, enum=["attachment", "inline"])],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request: AuthenticatedRequest, document_id) -> HttpResponse | StreamingHttpResponse:
        document = document_get_for(user=request.user, document_id=document_id, action="document.download", related=())
        disposition = "inline" if request.query_params.get("disposition") == "inline" else "attachment"
        try:
            return document_content_response(
                request=request, actor=request.user, document=document, disposition=disposition
            )
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)


class DocumentDownloadUrlView(APIView):
    @extend_schema(responses=DownloadUrlSerializer)
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.url")
        ensure_available(document)
        expires_in = settings.QUILL_SIGNED_URL_SECONDS
        if storage.is_s3():
            url = storage.presigned_get_url(
                key=document.storage_key,
                filename_disposition=content_disposition(document.original_filename),
                content_type=document.content_type,
                expires_in=expires_in,
            )
            expires_at = datetime.now(tz=UTC).timestamp() + expires_in
        else:
            api_token = request.auth if isinstance(request.auth, ApiToken) else None
            token, expires_at = signed_link_issue(
                actor=request.user, document=document, api_token=api_token, expires_in=expires_in
            )
            url = request.build_absolute_uri(reverse("documents-signed-download", args=[token]))
        document_record_read(
            action=Action.DOCUMENT_URL_ISSUED,
            document=document,
            actor=request.user,
            details={"expires_in": expires_in, "kind": "presigned-s3" if storage.is_s3() else "signed"},
        )
        return Response({"url": url, "expires_at": datetime.fromtimestamp(expires_at, tz=UTC).isoformat()})


class SignedDownloadView(APIView):
    """A download by signed, expiring link (filesystem storage).

    The link is the credential, checked again at each use: the document must still be
    served to the user who asked for the link, as that user stands now (services/links.py).
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, auth=[])
    def get(self, request: Request, token: str) -> HttpResponse | StreamingHttpResponse:
        link = signed_link_open(token=token)
        document = document_get_for(
            user=link.issuer, document_id=link.document_id, action=Action.DOCUMENT_LINK_USED.value, related=()
        )
        try:
            return document_content_response(
                request=request, actor=link.issuer, document=document, audit_action=Action.DOCUMENT_LINK_USED
            )
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)
