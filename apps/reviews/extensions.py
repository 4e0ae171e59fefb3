"""Reviews' answers to the lower apps' extension points (quill.extensions), registered in ReviewsConfig.ready().

documents and patients may not import reviews (it is built on them), so the document page, the patient's
document list and the access report ask for what reviews adds, and these answer.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.selectors import user_names
from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.reviews.models import Priority, ReviewOutcome
from apps.reviews.selectors import documents_awaiting_review, team_names
from apps.reviews.views import document_review_context
from quill import extensions

_REVIEW_ASSIGNMENTS = (Action.REVIEW_ASSIGNED, Action.REVIEW_FORWARDED)


def access_report_details(*, events: list[AuditEvent]) -> dict[int, str]:
    """Review events in the access report, in words: to whom, how urgent, by when; or the outcome."""
    reviewed = [event for event in events if event.action in (*_REVIEW_ASSIGNMENTS, Action.REVIEW_COMPLETED)]
    assignments = [event.details or {} for event in reviewed if event.action in _REVIEW_ASSIGNMENTS]
    names = user_names(
        [int(details["assignee"]) for details in assignments if str(details.get("assignee") or "").isdigit()]
    )
    teams = team_names([details["team"] for details in assignments if isinstance(details.get("team"), int)])
    return {event.pk: _in_words(event, names, teams) for event in reviewed}


def _in_words(event: AuditEvent, names: dict[int, str], teams: dict[int, str]) -> str:
    details = event.details or {}
    if event.action in _REVIEW_ASSIGNMENTS:
        assignee = str(details.get("assignee") or "")
        if assignee.isdigit():
            to = names.get(int(assignee), "a former user")
        else:
            to = "team " + teams.get(details.get("team") or 0, "(removed)")
        priority = Priority(details["priority"]).label if details.get("priority") in Priority.values else ""
        return f"To {to}; {priority.lower() or 'no'} priority; due {details.get('due_date', '')}"
    outcome = details.get("outcome")
    words = ReviewOutcome(outcome).label if outcome in ReviewOutcome.values else str(outcome or "")
    return f"{words}: “{details['text']}”" if details.get("text") else words


def _document_page(*, user: Any, document: Any) -> dict[str, Any]:
    return document_review_context(user=user, document=document)


def _awaiting(*, patient_id: Any, categories: frozenset[str] | None) -> set[Any]:
    return documents_awaiting_review(patient_id=patient_id, categories=categories)


def register() -> None:
    extensions.register(extensions.DOCUMENT_PAGE_CONTEXT, _document_page)
    extensions.register(extensions.DOCUMENTS_AWAITING_REVIEW, _awaiting)
    extensions.register(extensions.ACCESS_REPORT_DETAILS, access_report_details)
