"""Filing inbox items to patients: whole, or split by page ranges; rejecting; marking duplicates.

Filing goes through the documents app's own upload service (``document_upload_each``),
with the item's bytes exactly as received: the document's SHA-256 is the item's. The
item is closed and the provenance row written inside that same transaction
(``with_rows``), so a document is never filed without its item closing, nor twice. A
split files each page range as its own document (new bytes made with pikepdf) whose
provenance names the item and the range; each part may go to a different patient, and
the parts are filed together in one transaction: a refused part files none of them.

Filing may also assign each filed document for clinical review (``ReviewRequest``): the review
is opened by the reviews app's ``assign_review`` inside the same transaction, so a refused
assignee leaves nothing filed and the item open.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date

import pikepdf
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.documents.models import Document
from apps.documents.services import UploadRequest, document_upload_each
from apps.files.spooling import SpooledFile, read_chunks, spool
from apps.inbox.errors import ItemNotOpen, PartRefused, SplitInvalid
from apps.inbox.models import FiledDocument, InboxItem, ItemState
from apps.inbox.services.intake import _audit
from apps.inbox.services.preparation import local_copy
from apps.patients.models import Patient
from apps.reviews.models import Team
from apps.reviews.services import assign_review
from quill.errors import QuillError


@dataclass(frozen=True)
class ReviewRequest:
    """Who should review the filed document (one clinician or one team), how urgently and by when."""

    priority: str
    due_date: date
    assignee: User | None = None
    team: Team | None = None
    note: str = ""


@dataclass
class Filing:
    """What a person chose for one document: the patient and its details (and its pages, for a split)."""

    patient: Patient
    category: str
    title: str = ""
    document_date: date | None = None
    encounter_id: str = ""
    first_page: int | None = None
    last_page: int | None = None
    review: ReviewRequest | None = None
    automatic: bool = False  # filed by the inbox on an exact match (services/autofiling.py), not by a person
    evidence: str = ""  # for automatic filing: what the match rested on (kept in the audit event)
    rotations: dict[int, int] = field(default_factory=dict)  # page number in the item -> degrees clockwise


def _ensure_ready(item: InboxItem) -> None:
    if item.state != ItemState.READY:
        raise ItemNotOpen()


def _spool_object(item: InboxItem) -> SpooledFile:
    with local_copy(item.storage_key) as local, open(local, "rb") as reader:
        return spool(read_chunks(reader), max_bytes=(item.size or 0) + 1)


def _close(item: InboxItem, *, actor: User, state: str, reason: str = "") -> None:
    """Close an open item (conditional update: two people filing at once close it once)."""
    closed = InboxItem.objects.filter(pk=item.pk, state=ItemState.READY).update(
        state=state, closed_at=timezone.now(), closed_by=actor, closed_reason=reason
    )
    if not closed:
        raise ItemNotOpen()
    item.state = state


def _file_parts(
    item: InboxItem, parts: list[tuple[Filing, SpooledFile]], *, actor: User, split: bool
) -> list[Document]:
    """File each part to its own patient in one transaction with the item's closing: all of them, or none.

    A refusal of one part of a split is raised as ``PartRefused`` naming the part.
    """

    def refused(error: QuillError, index: int) -> QuillError:
        return PartRefused(error, part=index) if split else error

    uploads = [
        (
            filing.patient,
            UploadRequest(
                spooled=spooled,
                filename=item.original_filename,
                category=filing.category,
                title=filing.title,
                encounter_id=filing.encounter_id,
                document_date=filing.document_date,
            ),
        )
        for filing, spooled in parts
    ]

    def with_rows(documents: list[Document]) -> None:
        _close(item, actor=actor, state=ItemState.FILED)
        for index, ((filing, _), document) in enumerate(zip(parts, documents, strict=True)):
            try:
                _record_filing(item, filing, document, actor=actor)
            except QuillError as error:
                raise refused(error, index) from error

    outcomes = document_upload_each(actor=actor, uploads=uploads, with_rows=with_rows)
    for index, outcome in enumerate(outcomes):
        if outcome.error is not None:
            raise refused(outcome.error, index)
    return [outcome.document for outcome in outcomes if outcome.document is not None]


def _record_filing(item: InboxItem, filing: Filing, document: Document, *, actor: User) -> None:
    """The provenance row, the audit event and the review of one filed document (in the filing's transaction)."""
    FiledDocument.objects.create(
        document=document, item=item, first_page=filing.first_page, last_page=filing.last_page, filed_by=actor
    )
    _audit(
        item,
        Action.INBOX_ITEM_FILED,
        actor=actor,
        patient_id=filing.patient.pk,
        document_id=str(document.pk),
        pages=[filing.first_page, filing.last_page] if filing.first_page else None,
        automatic=filing.automatic or None,
        evidence=filing.evidence or None,
        rotated={str(page): degrees for page, degrees in filing.rotations.items()} or None,
    )
    if filing.review is not None:
        review = filing.review
        assign_review(
            document,
            assignee=review.assignee,
            team=review.team,
            priority=review.priority,
            due_date=review.due_date,
            assigned_by=actor,
            note=review.note,
        )


def _check_rotations(item: InboxItem, rotations: dict[int, int]) -> None:
    if not rotations:
        return
    if item.content_type != "application/pdf":
        raise SplitInvalid("Only PDF documents can have pages rotated; file the image as it is.")
    for page, degrees in rotations.items():
        if not 1 <= page <= (item.page_count or 0) or degrees % 90 or degrees % 360 == 0:
            raise SplitInvalid(f"Rotate pages between 1 and {item.page_count} by 90, 180 or 270 degrees.")


def inbox_file(*, actor: User, item: InboxItem, filing: Filing) -> Document:
    """File the whole item to ``filing.patient``: bytes as received, or a copy with pages rotated."""
    _ensure_ready(item)
    _check_rotations(item, filing.rotations)
    if filing.rotations:
        with local_copy(item.storage_key) as local:
            spooled = _pages_pdf(local, 1, item.page_count or 1, rotations=filing.rotations)
    else:
        spooled = _spool_object(item)
    [document] = _file_parts(item, [(filing, spooled)], actor=actor, split=False)
    return document


def _check_ranges(filings: list[Filing], page_count: int) -> None:
    covered: set[int] = set()
    for index, filing in enumerate(filings):
        first, last = filing.first_page, filing.last_page
        if first is None or last is None or not 1 <= first <= last <= page_count:
            raise SplitInvalid(
                f"Each part needs pages between 1 and {page_count}, the first not after the last.", part=index
            )
        pages = set(range(first, last + 1))
        if pages & covered:
            raise SplitInvalid("Two parts share a page; give each page to one part only.", part=index)
        covered |= pages


def _pages_pdf(source_path: str, first: int, last: int, *, rotations: dict[int, int] | None = None) -> SpooledFile:
    """A new PDF of pages first..last of the source (numbers as in the item), rotated as asked."""
    with pikepdf.open(source_path) as pdf, tempfile.TemporaryDirectory(prefix="quill-split-") as workdir:
        part = pikepdf.new()
        for number in range(first, last + 1):
            part.pages.append(pdf.pages[number - 1])
            if rotations and number in rotations:
                part.pages[-1].rotate(rotations[number], relative=True)
        path = os.path.join(workdir, "part.pdf")
        part.save(path)
        with open(path, "rb") as reader:
            return spool(read_chunks(reader), max_bytes=os.path.getsize(path) + 1)


def inbox_split(*, actor: User, item: InboxItem, filings: list[Filing]) -> list[Document]:
    """File each page range of a PDF item as its own document, each to its own patient, all or none."""
    _ensure_ready(item)
    if item.content_type != "application/pdf":
        raise SplitInvalid("Only PDF documents can be split by pages.")
    if len(filings) < 2:
        raise SplitInvalid("A split needs at least two parts; to file the whole document, use File.")
    return inbox_file_ranges(actor=actor, item=item, filings=filings)


def inbox_file_ranges(*, actor: User, item: InboxItem, filings: list[Filing]) -> list[Document]:
    """File each page range of a PDF item (one or more) as its own document, all or none.

    ``inbox_split`` for a person; automatic filing of cover-sheet parts calls it directly, since one
    cover sheet and the pages after it make a single range that is not the whole scan.
    """
    _ensure_ready(item)
    if item.content_type != "application/pdf" or not filings:
        raise SplitInvalid("Only PDF documents can be split by pages.")
    _check_ranges(filings, item.page_count or 0)
    for filing in filings:
        _check_rotations(item, filing.rotations)
    with local_copy(item.storage_key) as local:
        parts = [_pages_pdf(local, f.first_page or 1, f.last_page or 1, rotations=f.rotations) for f in filings]
    try:
        return _file_parts(item, list(zip(filings, parts, strict=True)), actor=actor, split=True)
    finally:
        for part in parts:
            part.discard()


def inbox_reject(*, actor: User, item: InboxItem, reason: str) -> None:
    reason = reason.strip()
    if not reason:
        raise QuillError("Say why this document is rejected; the reason is kept with it.")
    with transaction.atomic():
        _close(item, actor=actor, state=ItemState.REJECTED, reason=reason[:2000])
        _audit(item, Action.INBOX_ITEM_REJECTED, actor=actor, reason=reason[:2000])


def inbox_mark_duplicate(*, actor: User, item: InboxItem, reason: str = "") -> None:
    with transaction.atomic():
        _close(item, actor=actor, state=ItemState.DUPLICATE, reason=reason.strip()[:2000] or "Marked as duplicate")
        _audit(item, Action.INBOX_ITEM_MARKED_DUPLICATE, actor=actor)
