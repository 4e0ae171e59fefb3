"""One document: read, change, delete, restore, legal hold, versions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.audit.actions import Action
from apps.documents.api._common import DOCUMENT_LOOKUP, FILE_REFUSALS, HashingUploadMixin, _validated
from apps.documents.errors import InvalidCategory, LetterDocumentLocked, VersionSuperseded
from apps.documents.permissions import ensure_manager
from apps.documents.selectors import document_get_for, document_versions
from apps.documents.serializers import (
    DocumentDeleteSerializer,
    DocumentSerializer,
    DocumentUpdateSerializer,
    LegalHoldSerializer,
    VersionFieldsSerializer,
    VersionFormSerializer,
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
from quill.api import APIView, query_parameter_names, refuse_unknown_parts
from quill.errors import Conflict, ValidationFailed
from quill.openapi import BODY_REFUSALS, refusals, results_of
from quill.parsers import JSONParser, MultiPartParser
from quill.types import AuthenticatedRequest


class DocumentDetailView(APIView):
    parser_classes = [JSONParser]
    query_parameters = {"delete": query_parameter_names([DocumentDeleteSerializer])}

    @extend_schema(
        responses={200: DocumentSerializer, **refusals(*DOCUMENT_LOOKUP)},
        description="One document, any version. Administrators and owners also see a deleted one "
        "(`deleted_at` set): deleting is a soft delete, undone by `restore`.",
    )
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, include_deleted=True)
        self.check_query_parameters(request)
        document_record_read(
            action=Action.DOCUMENT_VIEWED,
            document=document,
            actor=request.user,
        )
        return Response(DocumentSerializer(document).data)

    @extend_schema(
        request=DocumentUpdateSerializer,
        responses={
            200: DocumentSerializer,
            **refusals(
                *DOCUMENT_LOOKUP, *BODY_REFUSALS, InvalidCategory, ValidationFailed, LetterDocumentLocked, Conflict,
                request=DocumentUpdateSerializer,
            ),
        },
    )  # fmt: skip
    def patch(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.update")
        self.check_query_parameters(request)
        data = _validated(DocumentUpdateSerializer, request.data)
        document = document_update(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)

    @extend_schema(
        parameters=[DocumentDeleteSerializer],
        responses={
            200: DocumentSerializer,
            **refusals(*DOCUMENT_LOOKUP, LetterDocumentLocked, Conflict, request=DocumentDeleteSerializer),
        },
        description="Soft delete (administrators and owners): the document leaves lists and downloads, "
        "its bytes and record are kept, and `restore` brings it back. The reason goes in the query "
        "string and is recorded in the audit trail. The answer is the document, `deleted_at` now set.",
    )
    def delete(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.delete")
        # the role is refused before the reason
        ensure_manager(user=request.user, doing="delete documents", attempted="document.delete", document=document)
        self.check_query_parameters(request)
        reason = _validated(DocumentDeleteSerializer, request.query_params)["reason"]
        document = document_soft_delete(actor=request.user, document=document, reason=reason)
        return Response(DocumentSerializer(document).data)


class DocumentRestoreView(APIView):
    @extend_schema(request=None, responses={200: DocumentSerializer, **refusals(*DOCUMENT_LOOKUP, Conflict)})
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.restore"
        )
        self.check_query_parameters(request)
        document = document_restore(actor=request.user, document=document)
        return Response(DocumentSerializer(document).data)


class DocumentLegalHoldView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=LegalHoldSerializer,
        responses={
            200: DocumentSerializer,
            **refusals(*DOCUMENT_LOOKUP, *BODY_REFUSALS, Conflict, ValidationFailed, request=LegalHoldSerializer),
        },
    )
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.legal_hold"
        )
        self.check_query_parameters(request)
        data = _validated(LegalHoldSerializer, request.data)
        document = document_set_legal_hold(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)


class DocumentVersionsView(HashingUploadMixin, APIView):
    """`GET` every version of a document; `POST` a new version's file as a multipart form."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        responses={200: results_of(DocumentSerializer), **refusals(*DOCUMENT_LOOKUP)},
        description="Every version of the document, newest first, in one answer (not paged).",
    )
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id)
        self.check_query_parameters(request)
        versions = document_versions(user=request.user, document=document)
        document_record_read(
            action=Action.DOCUMENT_VERSIONS_VIEWED,
            document=document,
            actor=request.user,
        )
        return Response({"results": DocumentSerializer(versions, many=True).data})

    @extend_schema(
        request={"multipart/form-data": VersionFormSerializer},
        responses={
            201: DocumentSerializer,
            **refusals(
                *DOCUMENT_LOOKUP, *FILE_REFUSALS, *BODY_REFUSALS, LetterDocumentLocked, VersionSuperseded, Conflict,
                request=VersionFieldsSerializer,
            ),
        },
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.new_version")
        self.check_query_parameters(request)
        refuse_unknown_parts(request.data, VersionFormSerializer)
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
