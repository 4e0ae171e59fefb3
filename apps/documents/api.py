"""REST API for documents. Thin: parse, call selectors/services, shape the answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.documents.audit import audit_document
from apps.documents.errors import InvalidCategory, UnknownPatient
from apps.documents.models import AnnotationKind, Category
from apps.documents.permissions import ensure_document_role, ensure_may_file_category
from apps.documents.selectors import DocumentFilters, document_get_for, document_list, document_versions
from apps.documents.serializers import (
    BulkUploadSerializer,
    DirectUploadFieldsSerializer,
    DocumentDeleteSerializer,
    DocumentFilterSerializer,
    DocumentSerializer,
    DocumentUpdateSerializer,
    DownloadUrlSerializer,
    LegalHoldSerializer,
    UploadFieldsSerializer,
    UserSummarySerializer,
    VersionFieldsSerializer,
)
from apps.documents.services import (
    UploadRequest,
    document_new_version,
    document_restore,
    document_set_legal_hold,
    document_soft_delete,
    document_stream_target,
    document_update,
    document_upload,
    document_upload_bulk,
)
from apps.documents.services.annotations import (
    annotation_create,
    annotation_delete,
    annotation_get_for,
    annotations_for,
    may_delete_annotation,
)
from apps.documents.services.delivery import (
    RangeNotSatisfiable,
    document_content_response,
    ensure_available,
    range_not_satisfiable_response,
)
from apps.files import storage
from apps.files.errors import LengthRequired, MissingFile
from apps.files.filenames import content_disposition
from apps.files.streaming import parse_repr_digest, receive_body
from apps.files.upload_handler import HashingUploadHandler, configured_max_upload_bytes
from apps.patients.access import PatientAction
from apps.patients.selectors import patient_get_for
from quill.api import Pagination, error_response
from quill.errors import NotFound, QuillError


class HashingUploadMixin:
    """Swap in the hashing upload handler before DRF (or CSRF) parses the body."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        if request.method in ("POST", "PUT"):
            request._request.upload_handlers = [
                HashingUploadHandler(request._request, tmp_dir=settings.FILE_UPLOAD_TEMP_DIR)
            ]
        super().initial(request, *args, **kwargs)

    def uploaded_files(self, request: Request, field: str = "file") -> list:
        files = request.FILES.getlist(field)
        handler = request._request.upload_handlers[0]
        if isinstance(handler, HashingUploadHandler):
            handler.raise_for_refusal()
        return files


def _upload_patient(user: User, patient_id):
    try:
        return patient_get_for(user=user, patient_id=patient_id, action=PatientAction.VIEW)
    except NotFound as exc:
        raise UnknownPatient() from exc


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class DocumentListCreateView(HashingUploadMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(parameters=[DocumentFilterSerializer], responses=DocumentSerializer(many=True))
    def get(self, request: Request) -> Response:
        ensure_document_role(user=request.user)
        params = _validated(DocumentFilterSerializer, request.query_params)
        if params.get("patient_id"):
            patient_get_for(user=request.user, patient_id=params["patient_id"], action=PatientAction.VIEW)
        filters = DocumentFilters(**params)
        paginator = Pagination()
        page = paginator.paginate_queryset(document_list(user=request.user, filters=filters), request, view=self)
        audit_record(
            action="document.listed",
            actor=request.user,
            patient_id=params.get("patient_id"),
            object_type="document",
            details={"filters": {k: str(v) for k, v in params.items()}, "returned": len(page)},
        )
        return paginator.get_paginated_response(DocumentSerializer(page, many=True).data)

    @extend_schema(request={"multipart/form-data": UploadFieldsSerializer}, responses={201: DocumentSerializer})
    def post(self, request: Request) -> Response:
        ensure_document_role(user=request.user)
        files = self.uploaded_files(request)
        if not files:
            raise MissingFile()
        if len(files) > 1:
            raise QuillErrorTooMany()
        fields = _upload_fields(request)
        patient = _upload_patient(request.user, fields["patient_id"])
        upload = files[0]
        item = UploadRequest(
            spooled=upload.spooled,
            filename=upload.name or "",
            category=fields["category"],
            title=fields["title"],
            encounter_id=fields["encounter_id"],
            document_date=fields["document_date"],
        )
        document = document_upload(actor=request.user, patient=patient, item=item)
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class QuillErrorTooMany(QuillError):
    error_code = "too_many_files"
    http_status = 400
    default_message = "Send one file to this endpoint; use /api/documents/bulk/ for several."


def _upload_fields(request: Request) -> dict:
    data = {key: request.data.get(key) for key in UploadFieldsSerializer().fields if key in request.data}
    if "category" in data and data["category"] not in Category.values:
        raise InvalidCategory()
    return _validated(UploadFieldsSerializer, data)


class UseFormUpload(QuillError):
    error_code = "unsupported_media_type"
    http_status = 415
    default_message = (
        "Send the file itself as the request body, with its own Content-Type (for example application/pdf "
        "or application/octet-stream). Form bodies are not accepted here: multipart forms go to "
        "/api/documents/ or /api/documents/bulk/."
    )


def _drain(request: Request, length: int, limit: int) -> None:
    """Read and drop an unread body (up to `limit`), so the client sees the refusal, not a reset."""
    remaining = min(length, limit)
    while remaining > 0:
        chunk = request._request.read(min(1024 * 1024, remaining))
        if not chunk:
            break
        remaining -= len(chunk)


class DocumentDirectUploadView(APIView):
    """One file as the whole request body, its details in the query string.

    With ``Repr-Digest: sha-256=:…:`` (RFC 9530) the bytes are checked against the
    digest, and large files go into storage while they arrive instead of after.
    """

    parser_classes: list = []  # the body is the file: read by receive_body, never parsed

    @extend_schema(
        parameters=[
            DirectUploadFieldsSerializer,
            OpenApiParameter(
                "Repr-Digest",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="RFC 9530 digest of the file, e.g. sha-256=:<base64>:. Checked; enables streaming.",
            ),
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: DocumentSerializer},
    )
    def post(self, request: Request) -> Response:
        max_bytes = configured_max_upload_bytes()
        announced = request.META.get("CONTENT_LENGTH", "")
        length = int(announced) if announced.isdigit() else 0
        try:
            ensure_document_role(user=request.user)
            if request.content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
                raise UseFormUpload()
            if not announced.isdigit():
                raise LengthRequired()
            data = dict(request.query_params.items())
            if "category" in data and data["category"] not in Category.values:
                raise InvalidCategory()
            fields = _validated(DirectUploadFieldsSerializer, data)
            patient = _upload_patient(request.user, fields["patient_id"])
            ensure_may_file_category(user=request.user, category=fields["category"])
            declared = parse_repr_digest(request.headers.get("Repr-Digest", ""))
            document_id = uuid.uuid4()
            spooled, streamed = receive_body(
                request._request,
                length=length,
                max_bytes=max_bytes,
                filename=fields["filename"],
                tmp_dir=settings.FILE_UPLOAD_TEMP_DIR,
                target_for=lambda head: document_stream_target(
                    patient=patient, document_id=document_id, head=head, declared_sha256=declared
                ),
            )
        except (QuillError, ValidationError):
            _drain(request, length, max_bytes)
            raise
        item = UploadRequest(
            spooled=spooled,
            filename=fields["filename"],
            category=fields["category"],
            title=fields["title"],
            encounter_id=fields["encounter_id"],
            document_date=fields["document_date"],
            document_id=document_id,
            declared_sha256=declared,
            streamed=streamed,
        )
        document = document_upload(actor=request.user, patient=patient, item=item)
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentBulkUploadView(HashingUploadMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": UploadFieldsSerializer}, responses={201: BulkUploadSerializer})
    def post(self, request: Request) -> Response:
        ensure_document_role(user=request.user)
        files = self.uploaded_files(request, "files")
        if not files:
            raise MissingFile("Attach one or more files in the 'files' field.")
        if len(files) > settings.QUILL_MAX_BULK_FILES:
            raise QuillErrorTooMany(f"Send at most {settings.QUILL_MAX_BULK_FILES} files at once.")
        fields = _upload_fields(request)
        patient = _upload_patient(request.user, fields["patient_id"])
        items = [
            UploadRequest(
                spooled=upload.spooled,
                filename=upload.name or "",
                category=fields["category"],
                title=fields["title"] if len(files) == 1 else "",
                encounter_id=fields["encounter_id"],
                document_date=fields["document_date"],
            )
            for upload in files
        ]
        outcomes = document_upload_bulk(actor=request.user, patient=patient, items=items)
        results = []
        for outcome in outcomes:
            if outcome.document is not None:
                results.append(
                    {
                        "filename": outcome.filename,
                        "outcome": "stored",
                        "document": DocumentSerializer(outcome.document).data,
                    }
                )
            elif outcome.error is not None:
                results.append({"filename": outcome.filename, "outcome": "refused", **outcome.error.as_detail()})
            else:
                results.append(
                    {
                        "filename": outcome.filename,
                        "outcome": "not_stored",
                        "error_code": "batch_refused",
                        "message": "Not stored, because another file in this upload was refused.",
                    }
                )
        refused = sum(1 for outcome in outcomes if outcome.error is not None)
        stored = sum(1 for outcome in outcomes if outcome.document is not None)
        body = {"stored": stored, "refused": refused, "total": len(outcomes), "files": results}
        if refused:
            worst = max((o.error for o in outcomes if o.error is not None), key=lambda e: e.http_status)
            body["detail"] = {
                "message": f"{refused} of {len(outcomes)} files were refused, so none was stored.",
                "error_code": "bulk_refused",
            }
            return Response(body, status=worst.http_status if worst.http_status in (413, 415) else 400)
        return Response(body, status=status.HTTP_201_CREATED)


class DocumentDetailView(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(responses=DocumentSerializer)
    def get(self, request: Request, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, include_deleted=True)
        audit_document(
            "document.viewed",
            document=document,
            actor=request.user,
        )
        return Response(DocumentSerializer(document).data)

    @extend_schema(request=DocumentUpdateSerializer, responses=DocumentSerializer)
    def patch(self, request: Request, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.update")
        data = _validated(DocumentUpdateSerializer, request.data)
        document = document_update(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)

    @extend_schema(request=DocumentDeleteSerializer, responses=DocumentSerializer)
    def delete(self, request: Request, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="document.delete")
        reason = request.data.get("reason") or request.query_params.get("reason") or ""
        document = document_soft_delete(actor=request.user, document=document, reason=reason)
        return Response(DocumentSerializer(document).data)


class DocumentRestoreView(APIView):
    @extend_schema(request=None, responses=DocumentSerializer)
    def post(self, request: Request, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.restore"
        )
        document = document_restore(actor=request.user, document=document)
        return Response(DocumentSerializer(document).data)


class DocumentLegalHoldView(APIView):
    @extend_schema(request=LegalHoldSerializer, responses=DocumentSerializer)
    def post(self, request: Request, document_id) -> Response:
        document = document_get_for(
            user=request.user, document_id=document_id, include_deleted=True, action="document.legal_hold"
        )
        data = _validated(LegalHoldSerializer, request.data)
        document = document_set_legal_hold(actor=request.user, document=document, **data)
        return Response(DocumentSerializer(document).data)


class DocumentVersionsView(HashingUploadMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses=DocumentSerializer(many=True))
    def get(self, request: Request, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id)
        versions = document_versions(document=document)
        audit_document(
            "document.versions_viewed",
            document=document,
            actor=request.user,
        )
        return Response({"results": DocumentSerializer(versions, many=True).data})

    @extend_schema(request={"multipart/form-data": VersionFieldsSerializer}, responses={201: DocumentSerializer})
    def post(self, request: Request, document_id) -> Response:
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


class DocumentContentView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("disposition", str, enum=["attachment", "inline"])],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request: Request, document_id) -> HttpResponse:
        document = document_get_for(user=request.user, document_id=document_id, action="document.download", related=())
        disposition = "inline" if request.query_params.get("disposition") == "inline" else "attachment"
        try:
            return document_content_response(
                request=request, user=request.user, document=document, disposition=disposition
            )
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)


class DocumentDownloadUrlView(APIView):
    @extend_schema(responses=DownloadUrlSerializer)
    def get(self, request: Request, document_id) -> Response:
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
        audit_document(
            "document.url_issued",
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
    def get(self, request: Request, token: str) -> HttpResponse:
        try:
            document_id, user_id = storage.unsign_download(token)
        except signing.SignatureExpired:
            return error_response("link_expired", "This download link has expired; ask Quill for a new one.", 403)
        except (signing.BadSignature, ValueError, KeyError):
            return error_response("link_invalid", "This download link is not valid.", 403)
        user = User.objects.filter(pk=user_id, is_active=True).select_related("organisation").first()
        if user is None:
            return error_response("link_invalid", "This download link is not valid.", 403)
        document = document_get_for(user=user, document_id=document_id, action="document.download", related=())
        try:
            return document_content_response(request=request, user=user, document=document)
        except RangeNotSatisfiable:
            return range_not_satisfiable_response(document)


# --- Annotations ----------------------------------------------------------------------------


class AnnotationSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    document_id = serializers.UUIDField(read_only=True)
    kind = serializers.ChoiceField(choices=AnnotationKind.choices)
    page = serializers.IntegerField(min_value=1, default=1)
    geometry = serializers.JSONField()
    text = serializers.CharField(required=False, allow_blank=True, default="")
    author = UserSummarySerializer(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    can_delete = serializers.SerializerMethodField()

    def get_can_delete(self, annotation) -> bool:
        user = self.context.get("user")
        return bool(user and may_delete_annotation(user, annotation))


class DocumentAnnotationsView(APIView):
    """`GET` the annotations on one version of a document; `POST` a new one (JSON)."""

    parser_classes = [JSONParser]

    @extend_schema(responses=AnnotationSerializer(many=True))
    def get(self, request: Request, document_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.list")
        annotations = annotations_for(document=document)
        audit_document(
            "annotation.listed",
            document=document,
            actor=request.user,
            details={"returned": len(annotations)},
        )
        data = AnnotationSerializer(annotations, many=True, context={"user": request.user}).data
        return Response({"results": data})

    @extend_schema(request=AnnotationSerializer, responses={201: AnnotationSerializer})
    def post(self, request: Request, document_id) -> Response:
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
    def delete(self, request: Request, document_id, annotation_id) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="annotation.delete")
        annotation = annotation_get_for(document=document, annotation_id=annotation_id)
        annotation_delete(actor=request.user, annotation=annotation)
        return Response(status=status.HTTP_204_NO_CONTENT)
