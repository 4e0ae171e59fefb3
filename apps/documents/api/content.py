"""A document's bytes: streamed, by signed link, or a link to fetch them."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import active_user_get
from apps.audit.actions import Action
from apps.documents.errors import RangeNotSatisfiable
from apps.documents.selectors import document_get_for
from apps.documents.serializers import DownloadUrlSerializer
from apps.documents.services.delivery import (
    document_content_response,
    ensure_available,
    range_not_satisfiable_response,
)
from apps.documents.services.reading import document_record_read
from apps.files import storage
from apps.files.filenames import content_disposition
from quill.api import error_response
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
            token, expires_at = storage.sign_download(
                document_id=document.pk, user_id=request.user.pk, expires_in=expires_in
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
    """A download by signed, expiring link (filesystem storage). The link is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, auth=[])
    def get(self, request: Request, token: str) -> HttpResponse | StreamingHttpResponse:
        try:
            document_id, user_id = storage.unsign_download(token)
        except signing.SignatureExpired:
            return error_response("link_expired", "This download link has expired; ask Quill for a new one.", 403)
        except (signing.BadSignature, ValueError, KeyError):
            return error_response("link_invalid", "This download link is not valid.", 403)
        user = active_user_get(user_id=user_id)
        if user is None:
            return error_response("link_invalid", "This download link is not valid.", 403)
        document = document_get_for(user=user, document_id=document_id, action="document.download", related=())
        try:
            return document_content_response(request=request, actor=user, document=document)
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)
