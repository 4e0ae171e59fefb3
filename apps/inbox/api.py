"""`POST /api/inbox/`: an integrator's document into the organisation's inbox, with patient hints;
`POST /api/inbox/merge/`: several waiting items merged into one new item.

Idempotent by the ``Idempotency-Key`` header: the same key with the same bytes answers
with the item already received (200); the same key with other bytes is refused (409).
A file the pipeline refuses is answered with the refusal (4xx, its ``error_code``) and
also kept as a refused item, so administrators see it in the inbox's admin.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.documents.api._common import FILE_REFUSALS, HashingUploadMixin
from apps.files import errors as file_errors
from apps.files.errors import MissingFile
from apps.inbox.errors import IdempotencyKeyReused, InvalidHint, ItemNotOpen, ItemNotReady, MergeInvalid
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.permissions import ensure_inbox_role
from apps.inbox.selectors import inbox_item_get_for
from apps.inbox.serializers import (
    InboxHintsSerializer,
    InboxItemSerializer,
    InboxMergeSerializer,
    InboxUploadFormSerializer,
)
from apps.inbox.services.intake import inbox_api_source, inbox_receive_spooled
from apps.inbox.services.merging import inbox_merge
from quill.api import APIView, refuse_unknown_parts
from quill.errors import NotFound, PermissionDenied, QuillError
from quill.openapi import BODY_REFUSALS, refusals
from quill.parsers import JSONParser, MultiPartParser
from quill.types import AuthenticatedRequest

MAX_IDEMPOTENCY_KEY = 200
_REFUSAL_CLASSES = {klass.error_code: klass for klass in FILE_REFUSALS}


def _refusal_of(item: InboxItem) -> QuillError:
    """The refusal a refused item was refused with, to answer a retry the same way."""
    klass = _REFUSAL_CLASSES.get(item.refusal_code, file_errors.UploadRejected)
    error = QuillError(item.refusal_reason)
    error.error_code = item.refusal_code or klass.error_code
    error.http_status = klass.http_status
    return error


def _hints(data: Any) -> dict[str, str]:
    names = InboxHintsSerializer().fields.keys()
    # A hint sent empty is refused (400), not ignored: leave out the hints you do not have.
    serializer = InboxHintsSerializer(data={key: data.get(key) for key in names if key in data})
    serializer.is_valid(raise_exception=True)
    return {key: str(value) for key, value in serializer.validated_data.items()}


def _idempotency_key(request: AuthenticatedRequest) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY or any(ord(char) < 0x21 or ord(char) > 0x7E for char in key):
        raise InvalidHint(
            f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters.",
            field="Idempotency-Key",
        )
    return key


class InboxUploadView(HashingUploadMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="inbox_create",
        request={"multipart/form-data": InboxUploadFormSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Your identifier for this document (printable ASCII, at most 200). "
                "Sending it again with the same file answers with the item already received.",
            )
        ],
        responses={
            201: InboxItemSerializer,
            200: InboxItemSerializer,
            **refusals(*FILE_REFUSALS, MissingFile, InvalidHint, IdempotencyKeyReused, PermissionDenied,
                       request=InboxHintsSerializer),
        },
        description="Put a document into the organisation's inbox for a person to file. Patient hints "
        "(NHS number, MRN, names, date of birth) inform the suggested patient; they never file it alone.",
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest) -> Response:
        ensure_inbox_role(user=request.user, attempted="inbox.create")
        key = _idempotency_key(request)
        refuse_unknown_parts(request.data, InboxUploadFormSerializer)
        files = self.uploaded_files(request)
        if len(files) != 1:
            raise MissingFile("Attach exactly one file, in the form field “file”.")
        hints = _hints(request.data)
        upload = files[0]
        if request.user.organisation_id is None:  # a platform account belongs to no clinic's inbox
            raise PermissionDenied("Only an organisation's own accounts can send documents to its inbox.")
        source = inbox_api_source(organisation_id=request.user.organisation_id)
        received = inbox_receive_spooled(
            actor=request.user,
            source=source,
            filename=upload.name or "",
            spooled=upload.spooled,
            source_identity=f"api:{key}" if key else "",
            hints=hints,
            provenance={"api_user": request.user.email, "idempotency_key": key},
        )
        item = received.item
        if not received.created and item.sha256 and item.sha256 != upload.spooled.sha256:
            raise IdempotencyKeyReused(item_id=str(item.pk))
        if item.state == ItemState.REFUSED:
            raise _refusal_of(item)
        return Response(
            InboxItemSerializer(item).data, status=status.HTTP_201_CREATED if received.created else status.HTTP_200_OK
        )


class InboxMergeView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="inbox_merge",
        request=InboxMergeSerializer,
        responses={
            201: InboxItemSerializer,
            **refusals(*BODY_REFUSALS, *FILE_REFUSALS, NotFound, PermissionDenied, MergeInvalid, ItemNotOpen,
                       ItemNotReady, request=InboxMergeSerializer),
        },
        description="Merge two or more items waiting in the inbox (PDF, JPEG, PNG or TIFF, each past its virus "
        "check) into one new item: a PDF of their pages in the order given, received like any other item. The "
        "items are closed as merged into it (`merged_into`), their own bytes kept unchanged. An item of another "
        "organisation, or no such item, answers 404; a filed, rejected or merged one 409 `inbox_item_closed`; "
        "one still being checked 409 `inbox_item_not_ready`. Nothing is changed when the merge is refused.",
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest) -> Response:
        ensure_inbox_role(user=request.user, attempted="inbox.merge")
        data = InboxMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = [inbox_item_get_for(user=request.user, item_id=item_id) for item_id in data.validated_data["items"]]
        merged = inbox_merge(actor=request.user, items=items)
        return Response(InboxItemSerializer(merged).data, status=status.HTTP_201_CREATED)
