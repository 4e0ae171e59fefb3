"""REST API for letters (thin: parse, call a selector or service, serialise).

Errors have the shape {"detail": {"message", "error_code"}}; field problems add
"fields". Other organisations' letters and patients are 404; writing without
the clinician role is 403 (audited).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.letters.errors import (
    ClinicianRequired,
    LetterAlreadyAmended,
    LetterFinal,
    LetterIncomplete,
    LetterInvalid,
    LetterNotFinal,
    LetterRoleRequired,
)
from apps.letters.models import Letter, LetterStatus, letter_max_length
from apps.letters.selectors import letter_amendments, letter_get_for, letter_patient_for, letters_for_patient
from apps.letters.services import (
    letter_amend,
    letter_create,
    letter_finalise,
    letter_mark_viewed,
    letter_update,
    letters_mark_listed,
)
from apps.patients.errors import BreakGlassRequired, RestrictedRecord, RoleRequired
from quill.api import APIView, Pagination, StrictSerializer, error_response, query_parameter_names
from quill.errors import NotFound
from quill.openapi import BODY_REFUSALS, PAGE_PARAMETERS, paginated, refusals
from quill.parsers import JSONParser
from quill.types import AuthenticatedRequest

# Finding a letter, or the patient whose letters these are (letters.selectors): another
# organisation's is 404; the patient's restriction and a clinical role apply.
LETTER_LOOKUP = (NotFound, RoleRequired, BreakGlassRequired, RestrictedRecord, LetterRoleRequired)


class LetterSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    signed_by = serializers.SerializerMethodField()
    patient = serializers.UUIDField(source="patient_id", read_only=True)
    amends = serializers.UUIDField(source="amends_id", read_only=True, allow_null=True)
    document = serializers.UUIDField(source="document_id", read_only=True, allow_null=True)

    class Meta:
        model = Letter
        fields = [
            "id",
            "patient",
            "author",
            "signed_by",
            "status",
            "recipient_name",
            "recipient_role",
            "recipient_address",
            "subject",
            "body",
            "clinical_date",
            "encounter_id",
            "amends",
            "document",
            "ehr_id",
            "composition_uid",
            "created_at",
            "updated_at",
            "finalised_at",
        ]
        read_only_fields = fields

    def get_author(self, letter: Letter) -> dict:
        return {"id": letter.author_id, "name": letter.author.full_name}

    @extend_schema_field(
        {"type": "object", "nullable": True, "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
    )
    def get_signed_by(self, letter: Letter) -> dict | None:
        """The clinician who finalised the letter (null for a draft)."""
        if letter.signed_by_id is None or letter.signed_by is None:
            return None
        return {"id": letter.signed_by_id, "name": letter.signed_by.full_name}


class LetterInputSerializer(StrictSerializer):
    recipient_name = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=letter_max_length("recipient_name")
    )
    recipient_role = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=letter_max_length("recipient_role")
    )
    recipient_address = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=letter_max_length("recipient_address")
    )
    subject = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=letter_max_length("subject")
    )
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=letter_max_length("body")
    )
    clinical_date = serializers.DateField(required=False)
    encounter_id = serializers.CharField(required=False, allow_blank=True, max_length=letter_max_length("encounter_id"))


def _field_problem(refusal: LetterInvalid | LetterIncomplete) -> Response:
    return error_response(refusal.error_code, refusal.message, refusal.http_status, fields=refusal.fields)


class PatientLettersView(APIView):
    parser_classes = [JSONParser]  # a form or multipart body is refused (415), never read as an empty letter
    query_parameters = {"get": query_parameter_names(PAGE_PARAMETERS)}

    @extend_schema(
        operation_id="patients_letters_list",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(LetterSerializer), **refusals(*LETTER_LOOKUP, ("invalid", 400))},
    )
    def get(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = letter_patient_for(user=request.user, patient_id=patient_id, attempted="letter.list")
        self.check_query_parameters(request)
        letters_mark_listed(actor=request.user, patient=patient, channel="api")
        paginator = Pagination()
        page = paginator.paginate_queryset(letters_for_patient(patient=patient), request, view=self)
        return paginator.get_paginated_response(LetterSerializer(page, many=True).data)

    @extend_schema(
        request=LetterInputSerializer,
        responses={
            201: LetterSerializer,
            **refusals(*LETTER_LOOKUP, *BODY_REFUSALS, ClinicianRequired, LetterInvalid, request=LetterInputSerializer),
        },
        description="A new draft letter (clinicians). Every field may be left out and filled in later.",
    )
    def post(self, request: AuthenticatedRequest, patient_id: str) -> Response:
        patient = letter_patient_for(user=request.user, patient_id=patient_id, attempted="letter.create", write=True)
        self.check_query_parameters(request)
        data = LetterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            letter = letter_create(actor=request.user, patient=patient, **data.validated_data)
        except LetterInvalid as refusal:
            return _field_problem(refusal)
        return Response(LetterSerializer(letter).data, status=status.HTTP_201_CREATED)


class LetterDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses={200: LetterSerializer, **refusals(*LETTER_LOOKUP)})
    def get(self, request: AuthenticatedRequest, letter_id: str) -> Response:
        letter = letter_get_for(user=request.user, letter_id=letter_id)
        self.check_query_parameters(request)
        letter_mark_viewed(actor=request.user, letter=letter, channel="api")
        return Response(LetterSerializer(letter).data)

    @extend_schema(
        request=LetterInputSerializer,
        responses={
            200: LetterSerializer,
            **refusals(
                *LETTER_LOOKUP, *BODY_REFUSALS, ClinicianRequired, LetterInvalid, LetterFinal,
                request=LetterInputSerializer,
            ),
        },
    )  # fmt: skip
    def patch(self, request: AuthenticatedRequest, letter_id: str) -> Response:
        letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.update")
        self.check_query_parameters(request)
        data = LetterInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            letter = letter_update(actor=request.user, letter=letter, **data.validated_data)
        except LetterInvalid as refusal:
            return _field_problem(refusal)
        return Response(LetterSerializer(letter).data)


class LetterFinaliseView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: LetterSerializer,
            **refusals(*LETTER_LOOKUP, ClinicianRequired, LetterFinal, LetterIncomplete),
        },
        description="Sign the draft: it becomes final, never changes again, and its PDF is stored as a document.",
    )
    def post(self, request: AuthenticatedRequest, letter_id: str) -> Response:
        letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.finalise")
        self.check_query_parameters(request)
        try:
            letter = letter_finalise(actor=request.user, letter=letter)
        except LetterIncomplete as refusal:
            return _field_problem(refusal)
        return Response(LetterSerializer(letter).data)


class LetterAmendView(APIView):
    @extend_schema(
        request=None,
        responses={
            201: OpenApiResponse(LetterSerializer, description="A new draft amendment."),
            200: OpenApiResponse(
                LetterSerializer, description="The draft amendment this letter already had, to carry on with."
            ),
            **refusals(*LETTER_LOOKUP, ClinicianRequired, LetterNotFinal, LetterAlreadyAmended),
        },
    )
    def post(self, request: AuthenticatedRequest, letter_id: str) -> Response:
        letter = letter_get_for(user=request.user, letter_id=letter_id, attempted="letter.amend")
        self.check_query_parameters(request)
        reused = letter_amendments(letter=letter).filter(status=LetterStatus.DRAFT).exists()
        draft = letter_amend(actor=request.user, letter=letter)
        return Response(LetterSerializer(draft).data, status=status.HTTP_200_OK if reused else status.HTTP_201_CREATED)
