"""API shapes for patients. Input is parsed here; the services decide what is valid."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from apps.patients.errors import PatientInvalid
from apps.patients.models import Patient, Sex
from apps.patients.selectors import DATE_OF_BIRTH_FORMATS
from quill.api import StrictSerializer

PATIENT_FIELDS = (
    "id",
    "nhs_number",
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "restricted",
    "fhir_id",
    "created_at",
    "updated_at",
)


class PatientSerializer(serializers.ModelSerializer):
    """A record the caller may open."""

    can_open = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = (*PATIENT_FIELDS, "can_open")
        read_only_fields = fields

    @extend_schema_field({"type": "boolean", "enum": [True], "description": "Always true: the record is open."})
    def get_can_open(self, patient: Patient) -> bool:
        return True


class RestrictedPatientSerializer(serializers.Serializer):
    """A restricted record the caller may list but not open: identity only, to break the glass for.

    The other fields of a Patient are left out on purpose: they are what the restriction hides."""

    id = serializers.UUIDField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    restricted = serializers.BooleanField()
    can_open = serializers.SerializerMethodField()

    @extend_schema_field(
        {"type": "boolean", "enum": [False], "description": "Always false: break the glass to open the record."}
    )
    def get_can_open(self, patient: Patient) -> bool:
        return False


def patient_list_item(patient: Patient) -> dict[str, Any]:
    if getattr(patient, "can_open", True):
        return PatientSerializer(patient).data
    return RestrictedPatientSerializer(patient).data


# A list shows restricted records the caller cannot open by their identity only.
PATIENT_LIST_ITEM = PolymorphicProxySerializer(
    component_name="PatientListItem",
    serializers=[PatientSerializer, RestrictedPatientSerializer],
    resource_type_field_name=None,
    many=True,
)


class PatientWriteSerializer(StrictSerializer):
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField(input_formats=["iso-8601", *DATE_OF_BIRTH_FORMATS])
    sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)
    nhs_number = serializers.CharField(max_length=20, allow_blank=True, required=False, default="")
    mrn = serializers.CharField(max_length=64, allow_blank=True, required=False, default="")
    restricted = serializers.BooleanField(required=False, default=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.partial:  # PATCH: only what was sent, no defaults
            for field in self.fields.values():
                field.default = serializers.empty


class BreakGlassSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=1000,
        allow_blank=True,
        help_text="The clinical reason, in words (two words and ten characters at least); recorded with your name.",
    )


class BreakGlassGrantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient_id = serializers.UUIDField()
    reason = serializers.CharField()
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


def as_validation_error(refusal: PatientInvalid) -> serializers.ValidationError:
    """The service's field problems as DRF field errors, each keeping its error code."""
    detail = {
        field: [ErrorDetail(message, code=code) for message, code in problems]
        for field, problems in refusal.fields.items()
    }
    return serializers.ValidationError(detail)
