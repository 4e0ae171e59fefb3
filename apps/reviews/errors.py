"""Refusals of clinical review: a review already completed, an outcome without what it needs."""

from __future__ import annotations

from quill.errors import Conflict, ValidationFailed


class ReviewNotOpen(Conflict):
    error_code = "review_not_open"
    default_message = "This review has already been completed; reload the page to see its outcome."


class ReviewAssigneeInvalid(ValidationFailed):
    error_code = "review_assignee_invalid"
    default_message = "Assign the review to one clinician of your organisation or to one of its teams."


class ReviewOutcomeIncomplete(ValidationFailed):
    error_code = "review_outcome_incomplete"
    default_message = "Say what action is needed, or name the colleague to forward the review to."
