from __future__ import annotations

import functools

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.documents.models import AnnotationKind, Category, Document, ScanStatus
from apps.documents.permissions import may_delete_annotation
from quill.api import MultipartForm, StrictSerializer, reason_field


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


class DocumentSerializer(serializers.ModelSerializer):
    patient_id = serializers.UUIDField(read_only=True)
    filename = serializers.CharField(source="original_filename", read_only=True)
    uploaded_by = UserSummarySerializer(read_only=True)
    supersedes_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "patient_id",
            "title",
            "category",
            "filename",
            "content_type",
            "size",
            "sha256",
            "encounter_id",
            "document_date",
            "uploaded_at",
            "uploaded_by",
            "scan_status",
            "integrity",
            "lineage_id",
            "version_number",
            "is_current",
            "supersedes_id",
            "sealed",
            "deleted_at",
            "retain_until",
            "legal_hold",
            "text_status",
            "text_error_code",
            "text_error",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Document) -> dict:
        # ModelSerializer builds its ~20 fields from the model for every instance, which cost
        # more than the representation itself. Without a context they hold nothing specific to
        # one request, so those instances share one built set.
        if self.context:
            return super().to_representation(instance)
        return serializers.ModelSerializer.to_representation(_shared_serializer(type(self)), instance)


@functools.cache
def _shared_serializer(serializer_class: type[DocumentSerializer]) -> DocumentSerializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 (build them once, now)
    return serializer


class UploadFieldsSerializer(serializers.Serializer):
    patient_id = serializers.UUIDField()
    category = serializers.ChoiceField(choices=Category.choices)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    encounter_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    document_date = serializers.DateField(required=False, default=None)


class BulkUploadFieldsSerializer(UploadFieldsSerializer):
    """A bulk upload's shared details: each file's own (below) take their place where sent."""

    category = serializers.ChoiceField(
        choices=Category.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="For every file without a category of its own.",
    )


class DirectUploadFieldsSerializer(UploadFieldsSerializer):
    filename = serializers.CharField(
        max_length=255, help_text="The file's name; its extension must agree with what the file contains."
    )


class VersionFieldsSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    document_date = serializers.DateField(required=False, default=None)


class UploadFormSerializer(MultipartForm, UploadFieldsSerializer):
    """The multipart form of `POST /api/documents/`: the fields and one file."""

    file = serializers.FileField(help_text="The document (PDF, JPEG, PNG, TIFF or DICOM).")


class BulkUploadFormSerializer(MultipartForm, BulkUploadFieldsSerializer):
    """The multipart form of `POST /api/documents/bulk/`: shared fields, the files, and each file's own details
    (for the schema; the view reads the lists itself)."""

    files = serializers.ListField(
        child=serializers.FileField(), min_length=1, help_text="One part named `files` per document."
    )
    titles = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=255),
        required=False,
        help_text="One per file, in the files' order, or none; empty for the file's name without its extension.",
    )
    categories = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=32),
        required=False,
        help_text="One per file, in the files' order, or none; empty for the shared category.",
    )
    document_dates = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="One per file (YYYY-MM-DD), in the files' order, or none; empty for the shared date.",
    )


class VersionFormSerializer(MultipartForm):
    """The multipart form of `POST /api/documents/{id}/versions/`."""

    file = serializers.FileField(help_text="The new version's file.")
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    document_date = serializers.DateField(required=False, default=None)


class DocumentUpdateSerializer(StrictSerializer):
    title = serializers.CharField(max_length=255, required=False)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    document_date = serializers.DateField(required=False)
    encounter_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class LegalHoldSerializer(StrictSerializer):
    hold = serializers.BooleanField()
    reason = reason_field(help_text="Why the hold is placed or lifted (e.g. the case reference).")


class DocumentDeleteSerializer(serializers.Serializer):
    """`DELETE /api/documents/{id}/?reason=...`: why, recorded in the audit trail."""

    # In the query string, so kept short enough for any URL (gunicorn refuses request lines over 4 KiB).
    reason = reason_field(max_length=200, help_text="Why the document is deleted, recorded in the audit trail.")


class DocumentFilterSerializer(serializers.Serializer):
    patient_id = serializers.UUIDField(required=False)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    encounter_id = serializers.CharField(max_length=64, required=False)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    scan_status = serializers.ChoiceField(choices=ScanStatus.choices, required=False)
    q = serializers.CharField(max_length=200, required=False)


class DownloadUrlSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()


class BulkFileResultSerializer(serializers.Serializer):
    filename = serializers.CharField()
    outcome = serializers.CharField()
    error_code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)
    document = DocumentSerializer(required=False)


class BulkUploadSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    refused = serializers.IntegerField()
    total = serializers.IntegerField()
    files = BulkFileResultSerializer(many=True)


_FRACTION = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "A fraction of the page, from its top-left corner.",
}
_POINT_PROPERTIES = {"x": _FRACTION, "y": _FRACTION}
_POINT = {"type": "object", "required": ["x", "y"], "properties": _POINT_PROPERTIES}
GEOMETRY_SCHEMA = {
    "description": "marker and text: a point {x, y}; highlight: {x, y, width, height} on the page; "
    "drawing: {points: [[x, y], ...]} (2 to 2,000 points).",
    "anyOf": [
        _POINT,
        {
            "type": "object",
            "required": ["x", "y", "width", "height"],
            "properties": {**_POINT_PROPERTIES, "width": _FRACTION, "height": _FRACTION},
        },
        {
            "type": "object",
            "required": ["points"],
            "properties": {
                "points": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 2000,
                    "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": _FRACTION},
                }
            },
        },
    ],
}


@extend_schema_field(GEOMETRY_SCHEMA)
class GeometryField(serializers.JSONField):
    """Page-relative coordinates; the services check them against the kind (services/annotations.py)."""


class AnnotationInputSerializer(StrictSerializer):
    """`POST /api/documents/{id}/annotations/`: the shape is checked here, the geometry by the service."""

    kind = serializers.ChoiceField(choices=AnnotationKind.choices)
    page = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
    geometry = GeometryField()
    text = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="Required for `text` notes."
    )


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


class DocumentSearchQuerySerializer(serializers.Serializer):
    """`GET /api/documents/search`: the words, and the same filters as the list."""

    q = serializers.CharField(
        max_length=200,
        help_text='Words to find in documents\' text and titles (web search syntax: "a phrase", -excluded, or).',
    )
    patient_id = serializers.UUIDField(required=False, help_text="Only this patient's documents.")
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    date_from = serializers.DateField(required=False, help_text="Clinical date on or after (YYYY-MM-DD).")
    date_to = serializers.DateField(required=False, help_text="Clinical date on or before (YYYY-MM-DD).")


class DocumentSearchHitSerializer(serializers.Serializer):
    document = DocumentSerializer()
    page = serializers.IntegerField(
        allow_null=True, min_value=1, help_text="The best matching page; null when only the title matched."
    )
    pages = serializers.ListField(child=serializers.IntegerField(min_value=1), help_text="Every matching page.")
    snippet = serializers.CharField(
        allow_blank=True,
        help_text="HTML: the page's words around the hits, escaped, with each hit in <mark>...</mark>.",
    )
    rank = serializers.FloatField(help_text="Higher is a better match (compare within one answer only).")
