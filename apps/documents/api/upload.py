"""Listing documents and uploading them: multipart (one or several files) and the raw body."""

from __future__ import annotations

import uuid
from datetime import date
from typing import BinaryIO, cast

from django.conf import settings
from django.http import QueryDict
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.actions import Action
from apps.audit.services import audit_record
from apps.documents.api._common import (
    FILE_REFUSALS,
    FORM_UPLOAD_REFUSALS,
    HashingUploadMixin,
    _upload_patient,
    _validated,
)
from apps.documents.errors import (
    BulkDetailsMismatch,
    InvalidCategory,
    InvalidFileDetails,
    QuillErrorTooMany,
    UnknownPatient,
    UseFormUpload,
)
from apps.documents.models import Category
from apps.documents.permissions import ensure_document_role, ensure_may_file_category
from apps.documents.selectors import DocumentFilters, document_list
from apps.documents.serializers import (
    BulkFileResultSerializer,
    BulkUploadFieldsSerializer,
    BulkUploadFormSerializer,
    BulkUploadSerializer,
    DirectUploadFieldsSerializer,
    DocumentFilterSerializer,
    DocumentSerializer,
    UploadFieldsSerializer,
    UploadFormSerializer,
)
from apps.documents.services import UploadRequest, document_stream_target, document_upload, document_upload_bulk
from apps.files.errors import DigestMismatch, IncompleteBody, InvalidDigest, LengthRequired, MissingFile
from apps.files.streaming import parse_repr_digest, receive_body
from apps.files.upload_handler import configured_max_upload_bytes
from apps.patients.access import PatientAction
from apps.patients.errors import BreakGlassRequired, RestrictedRecord, RoleRequired
from apps.patients.selectors import patient_get_for
from quill.api import APIView, Pagination, form_parts, query_parameter_names, refuse_empty, refuse_unknown_parts
from quill.errors import NotFound, PermissionDenied, QuillError
from quill.openapi import PAGE_PARAMETERS, paginated, refusals
from quill.parsers import MultiPartParser
from quill.types import AuthenticatedRequest

LIST_PARAMETERS: list[type[DocumentFilterSerializer] | OpenApiParameter] = [DocumentFilterSerializer, *PAGE_PARAMETERS]


class DocumentListCreateView(HashingUploadMixin, APIView):
    """`GET` the documents the caller may see; `POST` one file as a multipart form."""

    parser_classes = [MultiPartParser]
    query_parameters = {"get": query_parameter_names(LIST_PARAMETERS)}

    @extend_schema(
        operation_id="documents_list",
        parameters=LIST_PARAMETERS,
        responses={
            200: paginated(DocumentSerializer),
            # patient_id: the patient lookup's refusals (another organisation's patient is 404).
            **refusals(NotFound, PermissionDenied, RoleRequired, BreakGlassRequired, RestrictedRecord,
                       request=DocumentFilterSerializer),
        },
        description="Documents the caller may see, newest first. A filter sent empty is refused (400), "
        "not ignored: leave out the filters you do not use.",
    )  # fmt: skip
    def get(self, request: AuthenticatedRequest) -> Response:
        ensure_document_role(user=request.user)
        refuse_empty(request.query_params, DocumentFilterSerializer().fields.keys())
        params = _validated(DocumentFilterSerializer, request.query_params)
        if params.get("patient_id"):
            patient_get_for(user=request.user, patient_id=params["patient_id"], action=PatientAction.VIEW)
        filters = DocumentFilters(**params)
        paginator = Pagination()
        page = paginator.paginate_queryset(document_list(user=request.user, filters=filters), request, view=self)
        audit_record(
            action=Action.DOCUMENT_LISTED,
            actor=request.user,
            patient_id=params.get("patient_id"),
            object_type="document",
            # PAGE_SIZE is set, so the paginator always returns a page (never None).
            details={"filters": {k: str(v) for k, v in params.items()}, "returned": len(cast(list, page))},
        )
        return paginator.get_paginated_response(DocumentSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadFormSerializer},
        responses={201: DocumentSerializer, **refusals(*FORM_UPLOAD_REFUSALS, request=UploadFieldsSerializer)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        ensure_document_role(user=request.user)
        refuse_unknown_parts(request.data, UploadFormSerializer)
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


def _upload_fields(request: Request, serializer_class: type[UploadFieldsSerializer] = UploadFieldsSerializer) -> dict:
    # The field names, built once per class (a serializer's fields are deep copies made per instance).
    names = form_parts(serializer_class)
    data = {key: request.data.get(key) for key in names if key in request.data}
    if "category" in data and data["category"] not in Category.values:
        raise InvalidCategory()
    return _validated(serializer_class, data)


# --- bulk: each file's own details ------------------------------------------------------------

PER_FILE_FIELDS = ("titles", "categories", "document_dates")
MAX_TITLE = 255


def _per_file(request: Request, name: str, count: int) -> list[str]:
    """`name`'s values, one per file in the files' order; none sent is an empty value for each."""
    # A multipart body is parsed into a QueryDict (the view's only parser), which keeps every value.
    values = [str(value) for value in cast(QueryDict, request.data).getlist(name)]
    if not values:
        return [""] * count
    if len(values) != count:
        raise BulkDetailsMismatch(
            f"“{name}” was sent {len(values)} times for {count} files. Send it once for every file, "
            "in the order of the files (empty to use the shared value), or not at all.",
            field=name,
            files=count,
            values=len(values),
        )
    return values


def _file_title(value: str) -> str:
    title = value.strip()
    if len(title) > MAX_TITLE:
        raise InvalidFileDetails(f"The title is {len(title)} characters long; shorten it to {MAX_TITLE} or fewer.")
    if "\x00" in title:
        raise InvalidFileDetails("The title contains a character that cannot be stored; type it again.")
    return title


def _file_date(value: str) -> date | None:
    try:
        parsed = parse_date(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidFileDetails(f"“{value}” is not a clinical date Quill can read: use YYYY-MM-DD, like 2025-03-14.")
    return parsed


def _bulk_items(request: Request, files: list, shared: dict) -> list[UploadRequest]:
    """One upload per file, with its own title, category and clinical date where sent, else the shared ones.

    A file whose own details cannot be read carries the refusal, so it is reported with every
    other file's outcome and, the upload being all or nothing, nothing is stored.
    """
    titles, categories, dates = (_per_file(request, name, len(files)) for name in PER_FILE_FIELDS)
    items = []
    for upload, title, category, document_date in zip(files, titles, categories, dates, strict=True):
        item = UploadRequest(
            spooled=upload.spooled,
            filename=upload.name or "",
            category=category.strip() or shared["category"],
            # A shared title names a single file; several files are named after themselves.
            title=shared["title"] if len(files) == 1 else "",
            encounter_id=shared["encounter_id"],
            document_date=shared["document_date"],
        )
        try:
            item.title = _file_title(title) or item.title
            if document_date.strip():
                item.document_date = _file_date(document_date)
        except InvalidFileDetails as refusal:
            item.details_refusal = refusal
        items.append(item)
    return items


def _drain(request: Request, length: int, limit: int) -> None:
    """Read and drop an unread body (up to `limit`), so the client sees the refusal, not a reset."""
    remaining = min(length, limit)
    while remaining > 0:
        chunk = request._request.read(min(1024 * 1024, remaining))
        if not chunk:
            break
        remaining -= len(chunk)


# The body is the file itself. Its Content-Type is the client's to choose: Quill reads the type
# from the bytes (PDF, JPEG, PNG, TIFF, DICOM), and refuses only a form (415), which would be
# a multipart or URL-encoded body rather than the file.
DIRECT_UPLOAD_MEDIA_TYPES = (
    "application/octet-stream",
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/dicom",
)
REPR_DIGEST_PATTERN = r"^\s*sha-256=:[A-Za-z0-9+/]{43}=:\s*$"


class DrainsBodyOnRefusal(APIView):
    """A view that reads its body itself: a refusal before the view (credentials, throttling, an unknown
    query parameter) reads and drops the body, so the client sees the answer rather than a reset."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        try:
            super().initial(request, *args, **kwargs)
        except (QuillError, APIException):
            announced = request.META.get("CONTENT_LENGTH", "")
            _drain(request, int(announced) if announced.isdigit() else 0, configured_max_upload_bytes())
            raise


class DocumentDirectUploadView(DrainsBodyOnRefusal):
    """One file as the whole request body (`Content-Length` required), its details in the query string.

    The body's `Content-Type` may be the file's own type or `application/octet-stream`: Quill
    reads the type from the bytes. With `Repr-Digest: sha-256=:…:` (RFC 9530) the bytes are
    checked against the digest, and large files go into storage while they arrive instead of after.
    """

    parser_classes: list = []  # the body is the file: read by receive_body, never parsed
    query_parameters = {"post": query_parameter_names([DirectUploadFieldsSerializer])}

    @extend_schema(
        parameters=[
            DirectUploadFieldsSerializer,
            OpenApiParameter(
                "Repr-Digest",
                {"type": "string", "pattern": REPR_DIGEST_PATTERN},
                OpenApiParameter.HEADER,
                required=False,
                description="RFC 9530 digest of the file, `sha-256=:<base64 of the 32-byte SHA-256>:`. "
                "The bytes received are checked against it (400 `digest_mismatch`, nothing stored); "
                "on S3 storage it lets a large file be stored while it arrives.",
            ),
        ],
        request=dict.fromkeys(DIRECT_UPLOAD_MEDIA_TYPES, OpenApiTypes.BINARY),
        responses={
            201: DocumentSerializer,
            **refusals(
                *FILE_REFUSALS,
                UseFormUpload,
                InvalidCategory,
                UnknownPatient,
                PermissionDenied,
                LengthRequired,
                InvalidDigest,
                DigestMismatch,
                IncompleteBody,
                request=DirectUploadFieldsSerializer,
            ),
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
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
            ensure_may_file_category(
                user=request.user, category=fields["category"], attempted="document.upload", patient_id=patient.pk
            )
            declared = parse_repr_digest(request.headers.get("Repr-Digest", ""))
            document_id = uuid.uuid4()
            spooled, streamed = receive_body(
                cast(BinaryIO, request._request),  # HttpRequest is file-like; receive_body only read()s it
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


def _bulk_refusals() -> dict:
    """A refused batch answers the refusal and, beside it, each file's outcome (as the 201 answer)."""
    responses = refusals(
        *FORM_UPLOAD_REFUSALS,
        ("bulk_refused", 400),
        BulkDetailsMismatch,
        InvalidFileDetails,
        request=UploadFieldsSerializer,
    )
    per_file = {
        "stored": {"type": "integer"},
        "refused": {"type": "integer"},
        "total": {"type": "integer"},
        "files": {"type": "array", "items": {"$ref": f"#/components/schemas/{_component(BulkFileResultSerializer)}"}},
    }
    for status_code in (400, 413, 415):
        schema = responses[status_code].response
        schema["properties"].update(per_file)
        schema["properties"]["detail"]["properties"]["error_code"]["enum"] = sorted(
            {*schema["properties"]["detail"]["properties"]["error_code"]["enum"], "bulk_refused"}
        )
    return responses


def _component(serializer_class: type) -> str:
    return serializer_class.__name__.removesuffix("Serializer")


class DocumentBulkUploadView(HashingUploadMixin, APIView):
    """Several files for one patient in one multipart form, all stored or none."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": BulkUploadFormSerializer},
        responses={201: BulkUploadSerializer, **_bulk_refusals()},
        description="Several files for one patient, all stored or none: if any file is refused, none is "
        "stored and the answer lists every file's outcome (`files`) beside the refusal (`detail`).",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        ensure_document_role(user=request.user)
        refuse_unknown_parts(request.data, BulkUploadFormSerializer)
        files = self.uploaded_files(request, "files")
        if not files:
            raise MissingFile("Attach one or more files in the 'files' field.")
        if len(files) > settings.QUILL_MAX_BULK_FILES:
            raise QuillErrorTooMany(f"Send at most {settings.QUILL_MAX_BULK_FILES} files at once.")
        fields = _upload_fields(request, BulkUploadFieldsSerializer)
        patient = _upload_patient(request.user, fields["patient_id"])
        items = _bulk_items(request, files, fields)
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
