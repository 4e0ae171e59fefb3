"""Automatic filing: only when the organisation turned it on, and only on an exact match.

An item is filed without a person only when all of these hold, each checked again here rather
than trusted from the stored suggestions:

- the organisation's inbox settings have ``auto_file`` on;
- exactly one patient was suggested, on the basis of an NHS number, marked ``auto_file``;
- that patient's NHS number *and* date of birth are both written in the document's own text
  (hints from a sender, the filename or an email subject are never enough);
- the scan is one document (no barcode separator or cover sheets);
- the source has a default reviewer who is an active clinician of the organisation: the filing
  is recorded in their name, marked automatic in the audit, and opens a routine review for them,
  so a clinician reads every automatically filed document.

Anything else leaves the item in the inbox for a person.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta

from django.utils import timezone

from apps.documents.models import Category
from apps.inbox.models import InboxItem, InboxSettings, ItemState
from apps.inbox.services.filing import Filing, ReviewRequest, inbox_file
from apps.inbox.services.suggestions import find_dates, find_nhs_numbers
from apps.patients.models import Patient
from apps.reviews.models import Priority
from quill.errors import QuillError

logger = logging.getLogger(__name__)

AUTO_REVIEW_DUE_DAYS = 7


def auto_file_patient(item: InboxItem) -> Patient | None:
    """The one patient this item may be filed to without a person, else None."""
    if not InboxSettings.objects.filter(organisation_id=item.organisation_id, auto_file=True).exists():
        return None
    suggestions = item.suggestions or {}
    patients = suggestions.get("patients", [])
    if len(patients) != 1 or patients[0].get("basis") != "nhs_number" or patients[0].get("auto_file") is not True:
        return None
    if suggestions.get("parts"):
        return None
    patient = Patient.objects.filter(organisation_id=item.organisation_id, pk=patients[0]["patient_id"]).first()
    if patient is None or patient.date_of_birth is None:
        return None
    text = item.text or ""
    if patient.nhs_number not in find_nhs_numbers(text) or patient.date_of_birth not in find_dates(text):
        return None
    return patient


def inbox_auto_file(*, item_id: uuid.UUID | str) -> str:
    item = InboxItem.objects.select_related("source__default_reviewer").filter(pk=item_id).first()
    if item is None or item.state != ItemState.READY:
        return "skipped"
    patient = auto_file_patient(item)
    if patient is None:
        return "left-for-a-person"
    reviewer = item.source.default_reviewer
    if (
        reviewer is None
        or not reviewer.is_active
        or not reviewer.is_clinical
        or reviewer.organisation_id != item.organisation_id
    ):
        return "left-for-a-person"
    suggestions = item.suggestions or {}
    categories = suggestions.get("categories", [])
    document_date = suggestions.get("document_date") or None
    filing = Filing(
        patient=patient,
        category=categories[0]["category"] if categories else item.source.default_category or Category.OTHER,
        title=suggestions.get("title") or item.original_filename,
        document_date=date.fromisoformat(document_date) if document_date else None,
        review=ReviewRequest(
            priority=Priority.ROUTINE,
            due_date=timezone.localdate() + timedelta(days=AUTO_REVIEW_DUE_DAYS),
            assignee=reviewer,
            note="Filed automatically on an exact NHS number and date of birth match; please check.",
        ),
        automatic=True,
    )
    try:
        inbox_file(actor=reviewer, item=item, filing=filing)
    except QuillError as refusal:
        logger.warning("automatic filing refused; left for a person", extra={"item_id": str(item.pk),
                       "error_code": refusal.error_code})  # fmt: skip
        return "left-for-a-person"
    return "filed"
