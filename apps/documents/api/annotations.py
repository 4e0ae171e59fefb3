"""Annotations on a document's pages."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.actions import Action
from apps.documents.selectors import annotation_get_for, annotations_for, document_get_for
from apps.documents.serializers import AnnotationSerializer
from apps.documents.services.annotations import annotation_create, annotation_delete
from apps.documents.services.reading import document_record_read
from quill.parsers import JSONParser
from quill.types import AuthenticatedRequest


class DocumentAnnotationsView(APIView):
    """`GET` the annotations on one version of a document; `POST` a new one (JSON)."""

    parser_classes = [JSONParser]

    @extend_schema(responses=AnnotationSerializer(many=True))
    def get(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.list")
        annotations = annotations_for(document=document)
        document_record_read(
            action=Action.ANNOTATION_LISTED,
            document=document,
            actor=request.user,
            details={"returned": len(annotations)},
        )
        data = AnnotationSerializer(annotations, many=True, context={"user": request.user}).data
        return Response({"results": data})

    @extend_schema(request=AnnotationSerializer, responses={201: AnnotationSerializer})
    def post(self, request: AuthenticatedRequest, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.create")
        data = request.data if isinstance(request.data, dict) else {}
        annotation = annotation_create(
            actor=request.user,
            document=document,
            kind=data.get("kind", ""),
            page=data.get("page", 1),
            geometry=data.get("geometry"),
            text=data.get("text", ""),
        )
        body = AnnotationSerializer(annotation, context={"user": request.user}).data
        return Response(body, status=status.HTTP_201_CREATED)


class DocumentAnnotationDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: AuthenticatedRequest, document_id, annotation_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.delete")
        annotation = annotation_get_for(document=document, annotation_id=annotation_id)
        annotation_delete(actor=request.user, annotation=annotation)
        return Response(status=status.HTTP_204_NO_CONTENT)
