"""One document: read, change, delete, restore, legal hold, versions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.actions import Action
from apps.documents.api._common import HashingUploadMixin, _validated
from apps.documents.selectors import document_get_for, document_versions
from apps.documents.serializers import (
    DocumentDeleteSerializer,
    DocumentSerializer,
    DocumentUpdateSerializer,
    LegalHoldSerializer,
    VersionFieldsSerializer,
)
from apps.documents.services import (
    UploadRequest,
    document_new_version,
    document_restore,
    document_set_legal_hold,
    document_soft_delete,
    document_update,
)
from apps.documents.services.reading import document_record_read
from apps.files.errors import MissingFile
from quill.parsers import JSONParser, MultiPartParser
from quill.types import AuthenticatedRequest


class DocumentDetailView(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(responses=DocumentSerializer)
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, include_deleted=True)
        document_record_read(
            action=Action.DOCUMENT_VIEWED,
            document=document,
            actor=request.user,
        )
        return Response(DocumentSerializer(document).data)

    @extend_schema(request=DocumentUpdateSerializer, responses=DocumentSerializer)
    def patch(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.update")
        data = _validated(DocumentUpdateSerializer, request.data)
        document = document_update(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)

    @extend_schema(request=DocumentDeleteSerializer, responses=DocumentSerializer)
    def delete(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.delete")
        reason = request.data.get("reason") or request.query_params.get("reason") or ""
        document = document_soft_delete(actor=request.user, document=document, reason=reason)
        return Response(DocumentSerializer(document).data)


class DocumentRestoreView(APIView):
    @extend_schema(request=None, responses=DocumentSerializer)
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.restore"
        )
        document = document_restore(actor=request.user, document=document)
        return Response(DocumentSerializer(document).data)


class DocumentLegalHoldView(APIView):
    @extend_schema(request=LegalHoldSerializer, responses=DocumentSerializer)
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.legal_hold"
        )
        data = _validated(LegalHoldSerializer, request.data)
        document = document_set_legal_hold(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)


class DocumentVersionsView(HashingUploadMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=DocumentSerializer(many=True))
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id)
        versions = document_versions(user=request.user, document=document)
        document_record_read(
            action=Action.DOCUMENT_VERSIONS_VIEWED,
            document=document,
            actor=request.user,
        )
        return Response({"results": DocumentSerializer(versions, many=True).data})

    @extend_schema(request={"multipart/form-data": VersionFieldsSerializer}, responses={201: DocumentSerializer})
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.new_version")
        files = self.uploaded_files(request)
        if not files:
            raise MissingFile()
        fields = _validated(VersionFieldsSerializer, {k: v for k, v in request.data.items() if k != "file"})
        item = UploadRequest(
            spooled=files[0].spooled,
            filename=files[0].name or "",
            category=document.category,
            title=fields["title"],
            document_date=fields["document_date"],
        )
        new = document_new_version(actor=request.user, current=document, item=item)
        return Response(DocumentSerializer(new).data, status=status.HTTP_201_CREATED)
