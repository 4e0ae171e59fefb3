"""A document's bytes: streamed, by signed link, or a link to fetch them."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.audit.actions import Action
from apps.documents.api._common import DOCUMENT_LOOKUP, _validated
from apps.documents.errors import DocumentCorrupt, Quarantined, RangeNotSatisfiable, ScanPending
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
from apps.files.errors import StorageUnavailable
from apps.files.filenames import content_disposition
from apps.files.validation import EXTENSIONS
from quill.api import APIView, error_response, query_parameter_names
from quill.errors import Conflict
from quill.openapi import refusals
from quill.types import AuthenticatedRequest

# Why a stored document cannot be served now (delivery.ensure_available), and storage failing.
UNAVAILABLE = (Quarantined, ScanPending, DocumentCorrupt, Conflict, StorageUnavailable)


def _header(name: str, description: str, *, response: list[int] | None = None, **schema) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "string", **schema},
        OpenApiParameter.HEADER,
        description=description,
        response=response or False,
        required=bool(response),
    )


CONTENT_PARAMETERS = [
    _header("Range", "One range, `bytes=<first>-<last>` (either may be left out); answered 206. "
            "A range Quill cannot read, or several ranges, is ignored and the whole document sent."),
    _header("If-None-Match", "The `ETag` of a copy the client holds: 304 with no body if it is still the same."),
    _header("If-Range", "Send the range only if the document still has this `ETag`; otherwise the whole document."),
    _header("ETag", "The document's SHA-256 in quotes; it never changes (a new version is a new document).",
            response=[200, 206, 304]),
    _header("Repr-Digest", "RFC 9530 digest of the whole document, `sha-256=:<base64>:`.", response=[200, 206]),
    _header("Content-Disposition", "`attachment` (or `inline`) with the original filename (RFC 6266).",
            response=[200, 206]),
    _header("Content-Range", "For 206, `bytes <first>-<last>/<size>`; for 416, `bytes */<size>`.",
            response=[206, 416]),
]  # fmt: skip


def _content_responses(*refused) -> dict:
    """The bytes in the document's own media type (one of those Quill stores), whole or in part."""
    whole = "The whole document, in its own media type."
    part = "The part of the document that `Range` asked for."
    return {
        **{(200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description=whole) for media_type in EXTENSIONS},
        **{(206, media_type): OpenApiResponse(OpenApiTypes.BINARY, description=part) for media_type in EXTENSIONS},
        304: OpenApiResponse(
            None, description="`If-None-Match` named the document's `ETag`: the copy held is current."
        ),
        **refusals(*refused, RangeNotSatisfiable),
    }


class DispositionSerializer(serializers.Serializer):
    disposition = serializers.ChoiceField(
        choices=["attachment", "inline"],
        required=False,
        help_text="`inline` to show the document in a browser; `attachment` (the default) to save it.",
    )


def _content(
    request: Request, actor, document, disposition: str = "attachment"
) -> HttpResponse | StreamingHttpResponse:
    try:
        return document_content_response(request=request, actor=actor, document=document, disposition=disposition)
    except RangeNotSatisfiable as refusal:
        response = error_response(refusal.error_code, refusal.message, refusal.http_status)
        response["Content-Range"] = f"bytes */{document.size}"
        return response


class DocumentContentView(APIView):
    query_parameters = {"get": query_parameter_names([DispositionSerializer, *CONTENT_PARAMETERS])}

    @extend_schema(
        parameters=[DispositionSerializer, *CONTENT_PARAMETERS],
        responses={**_content_responses(*DOCUMENT_LOOKUP, *UNAVAILABLE), **refusals(request=DispositionSerializer)},
        description="The document's bytes, in the media type it was stored as (`content_type`).",
    )
    def get(self, request: AuthenticatedRequest, document_id) -> HttpResponse | StreamingHttpResponse:
        document = document_get_for(user=request.user, document_id=document_id, action="document.download", related=())
        self.check_query_parameters(request)
        disposition = _validated(DispositionSerializer, request.query_params).get("disposition", "attachment")
        return _content(request, request.user, document, disposition)


class DocumentDownloadUrlView(APIView):
    @extend_schema(
        responses={200: DownloadUrlSerializer, **refusals(*DOCUMENT_LOOKUP, *UNAVAILABLE)},
        description="A link that downloads the document without credentials until `expires_at`.",
    )
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.url")
        self.check_query_parameters(request)
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

    @extend_schema(
        parameters=CONTENT_PARAMETERS,
        responses=_content_responses(
            ("link_expired", 403), ("link_invalid", 403), ("link_revoked", 403), *DOCUMENT_LOOKUP, *UNAVAILABLE
        ),
        auth=[],
        description="A link from `download-url`; the link is the credential. As `/content` otherwise.",
    )
    def get(self, request: Request, token: str) -> HttpResponse | StreamingHttpResponse:
        link = signed_link_open(token=token)
        document = document_get_for(
            user=link.issuer, document_id=link.document_id, action=Action.DOCUMENT_LINK_USED.value, related=()
        )
        self.check_query_parameters(request)
        try:
            return document_content_response(
                request=request, actor=link.issuer, document=document, audit_action=Action.DOCUMENT_LINK_USED
            )
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)
