"""Annotations on a document's pages."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.audit.actions import Action
from apps.documents.api._common import DOCUMENT_LOOKUP
from apps.documents.errors import AnnotationInvalid, LetterDocumentLocked, VersionSuperseded
from apps.documents.selectors import annotation_get_for, annotations_for, document_get_for
from apps.documents.serializers import AnnotationInputSerializer, AnnotationSerializer
from apps.documents.services.annotations import annotation_create, annotation_delete
from apps.documents.services.reading import document_record_read
from quill.api import APIView, flatten_errors
from quill.errors import Conflict
from quill.openapi import BODY_REFUSALS, refusals, results_of
from quill.parsers import JSONParser
from quill.types import AuthenticatedRequest


class DocumentAnnotationsView(APIView):
    """`GET` the annotations on one version of a document; `POST` a new one (JSON)."""

    parser_classes = [JSONParser]

    @extend_schema(
        responses={200: results_of(AnnotationSerializer), **refusals(*DOCUMENT_LOOKUP)},
        description="Every annotation on this version, in one answer (not paged).",
    )
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.list")
        self.check_query_parameters(request)
        annotations = annotations_for(document=document)
        document_record_read(
            action=Action.ANNOTATION_LISTED,
            document=document,
            actor=request.user,
            details={"returned": len(annotations)},
        )
        data = AnnotationSerializer(annotations, many=True, context={"user": request.user}).data
        return Response({"results": data})

    @extend_schema(
        request=AnnotationInputSerializer,
        responses={
            201: AnnotationSerializer,
            **refusals(
                *DOCUMENT_LOOKUP, *BODY_REFUSALS, AnnotationInvalid, VersionSuperseded, LetterDocumentLocked, Conflict
            ),
        },
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.create")
        self.check_query_parameters(request)
        incoming = AnnotationInputSerializer(data=request.data)
        if not incoming.is_valid():
            # Every problem with an annotation's shape is one code, whichever check found it.
            raise AnnotationInvalid(flatten_errors(incoming.errors))
        annotation = annotation_create(actor=request.user, document=document, **incoming.validated_data)
        body = AnnotationSerializer(annotation, context={"user": request.user}).data
        return Response(body, status=status.HTTP_201_CREATED)


class DocumentAnnotationDetailView(APIView):
    @extend_schema(
        request=None,
        responses={204: None, **refusals(*DOCUMENT_LOOKUP, VersionSuperseded, LetterDocumentLocked, Conflict)},
    )
    def delete(self, request: AuthenticatedRequest, document_id, annotation_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.delete")
        annotation = annotation_get_for(document=document, annotation_id=annotation_id)
        self.check_query_parameters(request)
        annotation_delete(actor=request.user, annotation=annotation)
        return Response(status=status.HTTP_204_NO_CONTENT)
