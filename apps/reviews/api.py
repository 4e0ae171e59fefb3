"""The review API: what waits for me (`GET /api/reviews/`), assign a document, complete a review.

The services (apps.reviews.services) check roles, assignees and state; these views find the
document or review within the caller's organisation (another organisation's is 404, audited)
and turn ids in the body into users and teams of that organisation.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.documents.api._common import DOCUMENT_LOOKUP
from apps.documents.selectors import document_get_for
from apps.reviews.errors import ReviewAssigneeInvalid, ReviewNotOpen, ReviewOutcomeIncomplete
from apps.reviews.models import Priority, Review, ReviewOutcome, Team
from apps.reviews.selectors import review_in_organisation, reviews_waiting_for
from apps.reviews.services import assign_review, complete_review
from quill.api import APIView, Pagination, StrictSerializer, query_parameter_names
from quill.errors import NotFound, PermissionDenied, ValidationFailed
from quill.openapi import BODY_REFUSALS, PAGE_PARAMETERS, paginated, refusals
from quill.parsers import JSONParser
from quill.types import AuthenticatedRequest


class ReviewSerializer(serializers.ModelSerializer):
    document_title = serializers.CharField(source="document.title", read_only=True)
    patient = serializers.UUIDField(source="document.patient_id", read_only=True)
    assignee = serializers.IntegerField(source="assignee_id", read_only=True, allow_null=True)
    team = serializers.IntegerField(source="team_id", read_only=True, allow_null=True)
    completed_by = serializers.IntegerField(source="completed_by_id", read_only=True, allow_null=True)
    forwarded_from = serializers.UUIDField(source="forwarded_from_id", read_only=True, allow_null=True)
    outcome = serializers.ChoiceField(
        choices=ReviewOutcome.choices, allow_blank=True, read_only=True, help_text="Empty while the review is open."
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "document",
            "document_title",
            "patient",
            "assignee",
            "team",
            "priority",
            "due_date",
            "note",
            "assigned_at",
            "state",
            "outcome",
            "outcome_text",
            "completed_by",
            "completed_at",
            "forwarded_from",
        ]
        read_only_fields = fields


class ReviewAssignSerializer(StrictSerializer):
    assignee = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="A clinician of your organisation; or give `team`."
    )
    team = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="One of your organisation's teams."
    )
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.ROUTINE)
    due_date = serializers.DateField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ReviewCompleteSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=ReviewOutcome.choices)
    text = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        default="",
        help_text="What action is needed (required for `action_needed`), or a note for the colleague.",
    )
    forward_to = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The colleague to forward to (`forwarded`)."
    )
    forward_due_date = serializers.DateField(required=False, help_text="Defaults to this review's due date.")


def _colleague(user: User, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    found = User.objects.filter(pk=user_id, organisation__users=user).first()
    if found is None:
        raise ReviewAssigneeInvalid("Choose a clinician of your own organisation.")
    return found


def _team(user: User, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    found = Team.objects.filter(pk=team_id, organisation__users=user).first()
    if found is None:
        raise ReviewAssigneeInvalid("Choose one of your organisation's teams.")
    return found


def _review_for(user: User, review_id: uuid.UUID, attempted: str) -> Review:
    """The review if it belongs to the caller's organisation; otherwise 404, audited as not_found."""
    review = None
    if user.organisation_id is not None:
        review = review_in_organisation(review_id=review_id, organisation_id=user.organisation_id)
    if review is None:
        audit_denied(
            action=Action.ACCESS_DENIED,
            actor=user,
            reason="not_found",
            object_type="review",
            object_id=review_id,
            details={"attempted": attempted},
        )
        raise NotFound("No such review.")
    return review


class MyReviewsView(APIView):
    query_parameters = {"get": query_parameter_names(PAGE_PARAMETERS)}

    @extend_schema(
        operation_id="reviews_list",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ReviewSerializer), **refusals(("invalid", 400), NotFound)},
        description="Open reviews waiting for you or a team you belong to: overdue first, then by due date.",
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(reviews_waiting_for(request.user), request, view=self)
        audit_record(
            action=Action.REVIEW_LISTED,
            actor=request.user,
            organisation_id=request.user.organisation_id,
            object_type="review",
            details={"channel": "api", "count": len(page or [])},
        )
        return paginator.get_paginated_response(ReviewSerializer(page, many=True).data)


class DocumentReviewsView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="documents_reviews_create",
        request=ReviewAssignSerializer,
        responses={
            201: ReviewSerializer,
            **refusals(
                *DOCUMENT_LOOKUP, *BODY_REFUSALS, ReviewAssigneeInvalid, ValidationFailed,
                request=ReviewAssignSerializer,
            ),
        },
        description="Assign the document for clinical review to one clinician or one team (clinical roles).",
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest, document_id: uuid.UUID) -> Response:
        document = document_get_for(user=request.user, document_id=document_id, action="review.assign", related=())
        self.check_query_parameters(request)
        data = ReviewAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        review = assign_review(
            document,
            assignee=_colleague(request.user, fields.get("assignee")),
            team=_team(request.user, fields.get("team")),
            priority=fields["priority"],
            due_date=fields["due_date"],
            assigned_by=request.user,
            note=fields["note"],
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class ReviewCompleteView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="reviews_complete",
        request=ReviewCompleteSerializer,
        responses={
            200: ReviewSerializer,
            **refusals(
                NotFound, PermissionDenied, *BODY_REFUSALS, ReviewNotOpen, ReviewOutcomeIncomplete,
                ReviewAssigneeInvalid, request=ReviewCompleteSerializer,
            ),
        },
        description="Record the outcome of a review assigned to you or your team. `forwarded` completes it "
        "and opens a new review for the named colleague. Completing a completed review answers 409.",
    )  # fmt: skip
    def post(self, request: AuthenticatedRequest, review_id: uuid.UUID) -> Response:
        review = _review_for(request.user, review_id, "review.complete")
        self.check_query_parameters(request)
        data = ReviewCompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        completed = complete_review(
            review,
            actor=request.user,
            outcome=fields["outcome"],
            text=fields["text"],
            forward_to=_colleague(request.user, fields.get("forward_to")),
            forward_due_date=fields.get("forward_due_date"),
        )
        return Response(ReviewSerializer(completed).data)
