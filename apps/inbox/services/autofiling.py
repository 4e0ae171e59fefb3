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

A scan divided by barcode sheets is filed automatically part by part (``cover_sheet_filings``),
all parts or none, only when every part qualifies by the same bar:

- the part follows a cover sheet whose NHS number is that of exactly one patient of the
  organisation (looked up again here);
- that NHS number *and* the patient's date of birth are both in the text of the part's own pages
  (the cover sheet itself does not count: it says whom someone meant, the pages confirm it), and
  no other patient of the organisation's NHS number is there;
- the item's text has one page of text for each page of the scan, so the part's text is known;
- the same default reviewer rule as above. Each part becomes its own document, its provenance
  naming the item and page range; the item's bytes are kept as received.

A part without a cover sheet, or one that falls short, leaves the whole item for a person, with the
parts prefilled for confirmation as before.

Anything else leaves the item in the inbox for a person.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from apps.accounts.models import User
from apps.documents.models import Category
from apps.inbox.models import InboxItem, InboxSettings, ItemState
from apps.inbox.services.categories import suggest_categories
from apps.inbox.services.filing import Filing, ReviewRequest, inbox_file, inbox_file_ranges
from apps.inbox.services.suggestions import find_dates, find_nhs_numbers, suggest_clinical_date, suggest_title
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


def _reviewer(item: InboxItem) -> User | None:
    """The source's default reviewer, when automatic filing may be recorded in their name."""
    reviewer = item.source.default_reviewer
    if (
        reviewer is None
        or not reviewer.is_active
        or not reviewer.is_clinical
        or reviewer.organisation_id != item.organisation_id
    ):
        return None
    return reviewer


def _review(reviewer: User, note: str) -> ReviewRequest:
    return ReviewRequest(
        priority=Priority.ROUTINE,
        due_date=timezone.localdate() + timedelta(days=AUTO_REVIEW_DUE_DAYS),
        assignee=reviewer,
        note=note,
    )


def _cover_sheet_filing(item: InboxItem, part: dict[str, Any], pages: list[str], reviewer: User) -> Filing | None:
    """One part's filing when it qualifies for automatic filing (see the module's docstring), else None."""
    nhs_number, patient_id = part.get("nhs_number") or "", part.get("patient_id") or ""
    first, last = part.get("first_page"), part.get("last_page")
    if not nhs_number or not patient_id or not isinstance(first, int) or not isinstance(last, int):
        return None
    if not 1 <= first <= last <= len(pages):
        return None
    matches = list(Patient.objects.filter(organisation_id=item.organisation_id, nhs_number=nhs_number)[:2])
    if len(matches) != 1 or str(matches[0].pk) != patient_id or matches[0].date_of_birth is None:
        return None
    patient = matches[0]
    born = patient.date_of_birth
    part_pages = pages[first - 1 : last]
    text = "\n".join(part_pages)
    numbers = find_nhs_numbers(text)
    if nhs_number not in numbers or born not in find_dates(text):
        return None
    others = Patient.objects.filter(organisation_id=item.organisation_id, nhs_number__in=numbers).exclude(pk=patient.pk)
    if others.exists():
        return None
    categories = suggest_categories(organisation_id=item.organisation_id, text=text)
    document_date = suggest_clinical_date(part_pages, birth_dates={born})
    evidence = (
        f"{part.get('evidence') or 'NHS number ' + nhs_number + ' on a cover sheet'}; "
        f"NHS number and date of birth {born:%d/%m/%Y} in the text of pages {first}–{last}"
    )
    return Filing(
        patient=patient,
        category=categories[0]["category"] if categories else item.source.default_category or Category.OTHER,
        title=suggest_title(part_pages) or f"{item.original_filename} (pages {first}–{last})",
        document_date=document_date,
        first_page=first,
        last_page=last,
        review=_review(reviewer, f"Filed automatically from a cover sheet: {evidence}; please check."),
        automatic=True,
        evidence=evidence,
    )


def cover_sheet_filings(item: InboxItem, reviewer: User) -> list[Filing] | None:
    """A filing for every part of a scan divided by cover sheets, or None when any part falls short."""
    if not InboxSettings.objects.filter(organisation_id=item.organisation_id, auto_file=True).exists():
        return None
    parts = (item.suggestions or {}).get("parts") or []
    pages = (item.text or "").split("\f")
    if not parts or item.content_type != "application/pdf" or len(pages) != item.page_count:
        return None
    filings = []
    for part in parts:
        filing = _cover_sheet_filing(item, part, pages, reviewer)
        if filing is None:
            return None
        filings.append(filing)
    return filings


def _file_cover_sheet_parts(item: InboxItem, reviewer: User) -> str:
    filings = cover_sheet_filings(item, reviewer)
    if filings is None:
        return "left-for-a-person"
    try:
        inbox_file_ranges(actor=reviewer, item=item, filings=filings)
    except QuillError as refusal:
        logger.warning("automatic filing of cover-sheet parts refused; left for a person",
                       extra={"item_id": str(item.pk), "error_code": refusal.error_code})  # fmt: skip
        return "left-for-a-person"
    return "filed"


def inbox_auto_file(*, item_id: uuid.UUID | str) -> str:
    item = InboxItem.objects.select_related("source__default_reviewer").filter(pk=item_id).first()
    if item is None or item.state != ItemState.READY:
        return "skipped"
    if (item.suggestions or {}).get("parts"):
        reviewer = _reviewer(item)
        return "left-for-a-person" if reviewer is None else _file_cover_sheet_parts(item, reviewer)
    patient = auto_file_patient(item)
    if patient is None:
        return "left-for-a-person"
    reviewer = _reviewer(item)
    if reviewer is None:
        return "left-for-a-person"
    suggestions = item.suggestions or {}
    categories = suggestions.get("categories", [])
    document_date = suggestions.get("document_date") or None
    filing = Filing(
        patient=patient,
        category=categories[0]["category"] if categories else item.source.default_category or Category.OTHER,
        title=suggestions.get("title") or item.original_filename,
        document_date=date.fromisoformat(document_date) if document_date else None,
        review=_review(reviewer, "Filed automatically on an exact NHS number and date of birth match; please check."),
        automatic=True,
    )
    try:
        inbox_file(actor=reviewer, item=item, filing=filing)
    except QuillError as refusal:
        logger.warning("automatic filing refused; left for a person", extra={"item_id": str(item.pk),
                       "error_code": refusal.error_code})  # fmt: skip
        return "left-for-a-person"
    return "filed"
