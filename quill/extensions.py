"""Extension points: a lower app asks a question that a higher app answers, without importing it.

The apps are layered (docs/architecture.md, "Layering"): documents and patients may not import
reviews, which is built on them. Where a lower app's page shows something a higher app owns (the
reviews of a document, how a review event reads in the access report), the lower app asks a named
point here and the higher app registers its answer in its AppConfig.ready(). With no app
registered, a point has no answers and the page shows nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The points, and what their answers are.
DOCUMENT_PAGE_CONTEXT = "document_page_context"  # (user, document) -> dict merged into the page's context
DOCUMENTS_AWAITING_REVIEW = "documents_awaiting_review"  # (patient_id, categories) -> set of document ids
ACCESS_REPORT_DETAILS = "access_report_details"  # (events) -> {event pk: the details in words}

POINTS = frozenset({DOCUMENT_PAGE_CONTEXT, DOCUMENTS_AWAITING_REVIEW, ACCESS_REPORT_DETAILS})

_answers: dict[str, list[Callable[..., Any]]] = {point: [] for point in POINTS}


def register(point: str, answer: Callable[..., Any]) -> None:
    """Answer `point` with `answer` (once: registering the same function again changes nothing)."""
    if point not in POINTS:
        raise ValueError(f"No extension point {point!r}")
    if answer not in _answers[point]:
        _answers[point].append(answer)


def ask(point: str, **kwargs: Any) -> list[Any]:
    """Every registered answer to `point`, in the order the apps registered them."""
    return [answer(**kwargs) for answer in _answers[point]]
