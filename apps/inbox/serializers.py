"""API shapes of the inbox: what an integrator sends with a document, the item it gets back, a merge."""

from __future__ import annotations

from rest_framework import serializers

from apps.documents.models import ScanStatus
from apps.inbox.errors import InvalidHint
from apps.inbox.models import InboxItem
from apps.inbox.services.merging import MAX_MERGED_ITEMS
from apps.patients.nhs_number import nhs_number_problem, normalise_nhs_number
from quill.api import MultipartForm, StrictSerializer


class InboxHintsSerializer(serializers.Serializer):
    """Optional patient hints; they only inform the suggestion, a person still confirms."""

    nhs_number = serializers.CharField(required=False, max_length=12)
    mrn = serializers.CharField(required=False, max_length=64)
    family_name = serializers.CharField(required=False, max_length=100)
    given_name = serializers.CharField(required=False, max_length=100)
    date_of_birth = serializers.DateField(required=False)

    def validate_nhs_number(self, value: str) -> str:
        problem = nhs_number_problem(value)
        if problem:
            raise InvalidHint(problem, field="nhs_number")
        return normalise_nhs_number(value)


class InboxUploadFormSerializer(MultipartForm, InboxHintsSerializer):
    file = serializers.FileField(help_text="The document (PDF, JPEG, PNG, TIFF or DICOM).")


class InboxItemSerializer(serializers.ModelSerializer):
    source_name = serializers.CharField(source="source.name", read_only=True)
    filename = serializers.CharField(source="original_filename", read_only=True)
    scan_status = serializers.ChoiceField(
        choices=[("", "Not scanned: refused or a duplicate, nothing stored"), *ScanStatus.choices],
        read_only=True,
        help_text="Empty when the item's bytes were not stored (refused, or a copy of an earlier item).",
    )

    class Meta:
        model = InboxItem
        fields = [
            "id",
            "state",
            "source_name",
            "received_at",
            "filename",
            "content_type",
            "size",
            "sha256",
            "scan_status",
            "refusal_code",
            "refusal_reason",
            "duplicate_of",
            "merged_into",
            "merge_position",
            "hints",
        ]
        read_only_fields = fields


class InboxMergeSerializer(StrictSerializer):
    items = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=2,
        max_length=MAX_MERGED_ITEMS,
        help_text="The ids of the inbox items to merge, in the order their pages are to follow each other.",
    )
