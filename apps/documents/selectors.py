"""Reading documents, their annotations and their history. Organisation isolation and role rules live here.

Selectors never write; the audit events of a read are recorded by the caller through a service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.db.models.functions import Lower

from apps.accounts.models import User
from apps.accounts.selectors import user_names
from apps.audit.actions import Action, action_label
from apps.audit.models import AuditEvent
from apps.audit.reasons import ROLE_REQUIRED
from apps.audit.security_log import security_log_cross_organisation
from apps.audit.services import audit_denied
from apps.documents.errors import RestrictedPatientDocument
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Annotation, Document, Integrity, ScanStatus, TextStatus
from apps.documents.permissions import allowed_categories
from apps.patients.access import restricted_closed_to
from quill.errors import NotFound, PermissionDenied


def _restricted_rule(user: User) -> Q:
    """Not a document of a restricted patient closed to `user`.

    NOT EXISTS against the few restricted patients, not a join on `patient__restricted`:
    a count over the whole organisation would otherwise read every patient
    (docs/performance.md, "Organisation-wide filtered list").
    """
    return ~Q(Exists(restricted_closed_to(user).filter(pk=OuterRef("patient_id"))))


def documents_visible_to(user: User, *, include_deleted: bool = False, all_versions: bool = False) -> QuerySet:
    """Documents `user` may see: own organisation, allowed categories, open patient records."""
    if not user.is_authenticated or user.organisation_id is None:
        return Document.objects.none()
    queryset = Document.objects.filter(organisation_id=user.organisation_id, purged_at__isnull=True)
    categories = allowed_categories(user)
    if categories is not None:
        queryset = queryset.filter(category__in=categories)
    if not include_deleted:
        queryset = queryset.filter(deleted_at__isnull=True)
    if not all_versions:
        queryset = queryset.filter(is_current=True)
    return queryset.filter(_restricted_rule(user))


# What pages and serializers show of a document besides its patient (who uploaded or deleted it, where).
DETAIL_RELATIONS = ("uploaded_by", "organisation", "deleted_by")


def document_get_for(
    *,
    user: User,
    document_id: uuid.UUID | str,
    include_deleted: bool = False,
    action: str = "document.view",
    related: tuple[str, ...] = DETAIL_RELATIONS,
) -> Document:
    """One document `user` may see (any version). 404 outside the organisation, 403 without the role.

    Every refusal is audited as ``access.denied`` in the caller's chain: ``not_found`` (another
    organisation's id and an unknown one alike, with the requested id and no patient),
    ``deleted``, ``role`` or ``restricted_record``.

    The patient is always read with it (the restricted-record rule needs it); `related=()`
    suits paths that only serve the bytes, where joining and compiling the other three
    tables' columns is most of the lookup's cost.
    """
    try:
        document_uuid = uuid.UUID(str(document_id))
    except ValueError as exc:
        _audit_document_denied(user=user, reason="not_found", document_id=str(document_id)[:64], attempted=action)
        raise NotFound() from exc
    # One row by primary key needs no ORDER BY (.first() would add the model's ordering).
    found = Document.objects.select_related("patient", *related).filter(pk=document_uuid, purged_at__isnull=True)
    document = next(iter(found.order_by()[:1]), None)
    if document is None or document.organisation_id != user.organisation_id:
        # The same event whether the id exists elsewhere or nowhere: the organisation's chain is
        # no oracle for other organisations' records. Only the installation's operators see which.
        _audit_document_denied(user=user, reason="not_found", document_id=document_uuid, attempted=action)
        if document is not None:
            security_log_cross_organisation(
                actor=user,
                object_type="document",
                object_id=document_uuid,
                owner_organisation_id=document.organisation_id,
                attempted=action,
            )
        raise NotFound()
    if document.deleted_at is not None and not (include_deleted and user.is_manager):
        _audit_document_denied(
            user=user, reason="deleted", document_id=document.pk, attempted=action, patient_id=document.patient_id
        )
        raise NotFound()
    categories = allowed_categories(user)
    if categories is not None and document.category not in categories:
        _audit_document_denied(
            user=user, reason=ROLE_REQUIRED, document_id=document.pk, attempted=action, patient_id=document.patient_id
        )
        raise PermissionDenied(
            "Your role allows only insurance documents." if categories else "Your role does not allow documents."
        )
    if (
        document.patient.restricted
        and not documents_visible_to(user, include_deleted=True, all_versions=True).filter(pk=document.pk).exists()
    ):
        _audit_document_denied(
            user=user,
            reason="restricted_record",
            document_id=document.pk,
            attempted=action,
            patient_id=document.patient_id,
        )
        raise RestrictedPatientDocument()
    return document


def _audit_document_denied(
    *, user: User, reason: str, document_id: uuid.UUID | str, attempted: str, patient_id: uuid.UUID | None = None
) -> None:
    """One ``access.denied`` event for a refused document lookup; ``attempted`` is the action asked for."""
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=user,
        reason=reason,
        object_type="document",
        object_id=document_id,
        patient_id=patient_id,
        details={"attempted": attempted},
    )


class DocumentSort(StrEnum):
    """The orders a patient's documents can be listed in: a column, either way ("-" is descending)."""

    DATE_NEWEST = "-date"
    DATE_OLDEST = "date"
    TITLE_A_Z = "title"
    TITLE_Z_A = "-title"
    CATEGORY_A_Z = "category"
    CATEGORY_Z_A = "-category"

    @property
    def column(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


def _ordering(sort: DocumentSort) -> list[OrderBy | str]:
    """The column asked for, then newest first and the id: equal titles or categories keep one order
    from page to page (the date order breaks its own ties the same way, reversed when ascending)."""
    if sort == DocumentSort.DATE_NEWEST:
        return ["-document_date", "-uploaded_at", "-id"]
    if sort == DocumentSort.DATE_OLDEST:
        return ["document_date", "uploaded_at", "id"]
    # Category codes sort as their labels do (tests/documents/test_document_list.py keeps it so).
    key = Lower("title") if sort.column == "title" else F("category")
    first = key.desc() if sort.descending else key.asc()
    return [first, "-document_date", "-uploaded_at", "-id"]


@dataclass(frozen=True)
class DocumentFilters:
    patient_id: uuid.UUID | None = None
    category: str = ""
    encounter_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    scan_status: str = ""
    q: str = ""
    title: str = ""
    sort: DocumentSort = DocumentSort.DATE_NEWEST


def document_list(*, user: User, filters: DocumentFilters, include_deleted: bool = False) -> QuerySet:
    """In `filters.sort` order (newest clinical date first unless asked otherwise), with what list pages
    and the API show joined in (constant queries)."""
    queryset = documents_visible_to(user, include_deleted=include_deleted).select_related("uploaded_by", "patient")
    if filters.patient_id:
        queryset = queryset.filter(patient_id=filters.patient_id)
    if filters.category:
        queryset = queryset.filter(category=filters.category)
    if filters.encounter_id:
        # Encounter numbers are typed from the PAS in any case and often only their start is known.
        queryset = queryset.filter(encounter_id__istartswith=filters.encounter_id)
    if filters.date_from:
        queryset = queryset.filter(document_date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(document_date__lte=filters.date_to)
    if filters.scan_status:
        queryset = queryset.filter(scan_status=filters.scan_status)
    if filters.q:
        queryset = queryset.filter(Q(title__icontains=filters.q) | Q(original_filename__icontains=filters.q))
    if filters.title:
        queryset = queryset.filter(title__icontains=filters.title)
    return queryset.order_by(*_ordering(DocumentSort(filters.sort)))


def document_versions(*, user: User, document: Document) -> QuerySet:
    """The versions of `document` that `user` may see, newest first.

    A version keeps the category it was filed under, so a lineage can hold versions of a
    category the user's role does not allow (billing, an older clinical version): those are
    left out, as are deleted versions for anyone but administrators and owners.
    """
    visible = documents_visible_to(user, include_deleted=user.is_manager, all_versions=True)
    return visible.filter(lineage_id=document.lineage_id).select_related("uploaded_by").order_by("-version_number")


def deleted_documents(*, user: User) -> QuerySet:
    if not user.is_manager:
        return Document.objects.none()
    return (
        documents_visible_to(user, include_deleted=True, all_versions=True)
        .filter(deleted_at__isnull=False)
        .select_related("patient", "deleted_by")
        .order_by("-deleted_at")
    )


def quarantined_documents(*, user: User) -> QuerySet:
    if not user.is_manager or user.organisation_id is None:
        return Document.objects.none()
    return (
        Document.objects.filter(organisation_id=user.organisation_id, scan_status="infected")
        .select_related("patient", "uploaded_by")
        .order_by("-scanned_at")
    )


# --- for workers ---------------------------------------------------------------------------


def document_scan_status(*, document_id: uuid.UUID | str) -> str | None:
    """The document's scan status, or None when it no longer exists (for routing a fresh upload)."""
    return Document.objects.filter(pk=document_id).values_list("scan_status", flat=True).first()


def documents_stuck_pending(*, uploaded_before: datetime, limit: int) -> list[uuid.UUID]:
    """Ids of documents still waiting for their scan since before `uploaded_before`, oldest first."""
    return list(
        Document.objects.filter(scan_status=ScanStatus.PENDING, uploaded_at__lte=uploaded_before)
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:limit]
    )


def documents_text_pending(*, uploaded_before: datetime, limit: int) -> list[uuid.UUID]:
    """Ids of available documents whose text is still to be read, uploaded before `uploaded_before`, oldest first."""
    return list(
        Document.objects.filter(
            text_status=TextStatus.PENDING,
            scan_status__in=AVAILABLE_SCAN_STATUSES,
            integrity=Integrity.OK,
            purged_at__isnull=True,
            uploaded_at__lte=uploaded_before,
        )
        .order_by("uploaded_at")
        .values_list("pk", flat=True)[:limit]
    )


def documents_to_reindex(*, organisation_id: str | None, missing_only: bool) -> QuerySet[Document]:
    """Available documents (current or not) whose text `reindex_text` reads: with `missing_only`, those
    whose text is not read yet or failed; else every one. Oldest first."""
    documents = Document.objects.filter(
        scan_status__in=AVAILABLE_SCAN_STATUSES, integrity=Integrity.OK, purged_at__isnull=True
    )
    if organisation_id:
        documents = documents.filter(organisation_id=organisation_id)
    if missing_only:
        documents = documents.filter(text_status__in=[TextStatus.PENDING, TextStatus.FAILED])
    return documents.order_by("uploaded_at", "pk")


# --- annotations -----------------------------------------------------------------------------
# The caller has already authorised the document with `document_get_for`.


def annotations_for(*, document: Document) -> QuerySet[Annotation]:
    """Every annotation on this version of the document, page by page, oldest first."""
    return Annotation.objects.filter(document=document).select_related("author").order_by("page", "created_at")


def annotation_get_for(*, document: Document, annotation_id: Any) -> Annotation:
    annotation_uuid = _uuid_or_none(annotation_id)
    if annotation_uuid is None:
        raise NotFound()
    annotation = annotations_for(document=document).filter(pk=annotation_uuid).first()
    if annotation is None:
        raise NotFound()
    return annotation


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


# --- history ---------------------------------------------------------------------------------

ACTIVITY_PAGE_SIZE = 20  # rows of the document page's activity table
# Reads that repeat while someone works on a document; a run of them by one person is one row.
REPEATED_READS = frozenset(
    {
        Action.DOCUMENT_VIEWED,
        Action.DOCUMENT_PREVIEWED,
        Action.DOCUMENT_DOWNLOADED,
        Action.DOCUMENT_VERSIONS_VIEWED,
        Action.ANNOTATION_LISTED,
    }
)


def document_audit_events(*, document: Document, version_ids: list) -> QuerySet:
    """Events about any version of this document or its annotations, newest first (own organisation only).

    Every event of one organisation is in its one chain, so the chain's sequence is their order
    (``occurred_at`` is taken before the chain's lock, so two appends can swap clocks). Annotation
    events carry the document's patient: that narrows them to the patient's events (an index)
    before their details are read.
    """
    ids = [str(pk) for pk in version_ids]
    return AuditEvent.objects.filter(
        Q(object_type="document", object_id__in=ids)
        | Q(object_type="annotation", patient_id=document.patient_id, details__document_id__in=ids),
        organisation_id=document.organisation_id,
    ).order_by("-sequence")


def document_titles(ids: list[str]) -> dict[str, str]:
    """Titles of documents by id (any state: the access report names deleted ones too)."""
    valid = [parsed for parsed in map(_uuid_or_none, ids) if parsed is not None]
    rows = Document.objects.filter(pk__in=valid).values_list("pk", "title", "version_number")
    return {str(pk): f"{title} (version {version})" if version > 1 else title for pk, title, version in rows}


@dataclass(frozen=True)
class ActivityRow:
    """One line of a document's activity: an event, or a run of the same read by the same person."""

    last: AuditEvent  # the newest event of the run (who, what, outcome)
    first: AuditEvent  # its oldest; the same event when the run is one event
    count: int
    who: str
    label: str


@dataclass(frozen=True)
class ActivityPage:
    """One page of the activity table, newest first; `older` is the cursor of the next page, if any."""

    rows: list[ActivityRow]
    before: int | None  # the cursor this page was read with (None: the newest page)
    older: int | None


def document_activity(
    *, document: Document, version_ids: list, before: int | None = None, page_size: int = ACTIVITY_PAGE_SIZE
) -> ActivityPage:
    """One page of the document's events, newest first, people by name, and repeated reads collapsed.

    The runs are found in the database (gaps and islands: an event starts a new run unless it is
    a repeated read of the same action, person and outcome as the event just newer than it), so
    a document read ten thousand times costs the same few queries as one read once: the runs of
    the page, their first and last events, and the people's names. Pages go by the chain's
    sequence (``before``: events older than it), so a page stays the same while new events
    arrive; a run cut by a page's end goes on at the top of the next.
    """
    events = document_audit_events(document=document, version_ids=version_ids)
    if before is not None:
        events = events.filter(sequence__lt=before)
    runs = _activity_runs(events, limit=page_size + 1)
    shown = runs[:page_size]
    by_id = AuditEvent.objects.in_bulk([run_id for run in shown for run_id in run[:2]])
    names = user_names(sorted({event.actor_id for event in by_id.values() if event.actor_id}))
    rows = []
    for last_id, first_id, count in shown:
        last = by_id[last_id]
        who = names.get(last.actor_id, last.actor_username) if last.actor_id else (last.actor_username or "system")
        rows.append(ActivityRow(last, by_id[first_id], count, who, action_label(last.action)))
    older = rows[-1].first.sequence if len(runs) > page_size else None
    return ActivityPage(rows, before, older)


def _activity_runs(events: QuerySet, *, limit: int) -> list[tuple[int, int, int]]:
    """(newest id, oldest id, events) of the first `limit` runs of `events`, newest run first.

    Window functions over the filtered events (PostgreSQL, and SQLite from 3.25): LAG compares
    each event with the one just newer, a running SUM of the run starts numbers the runs, and
    only the page's runs leave the database.
    """
    inner, params = events.order_by().values("id", "sequence", "action", "actor_id", "outcome").query.sql_with_params()
    repeated = sorted(REPEATED_READS)
    sequence = connection.ops.quote_name("sequence")
    newest_first = f"ORDER BY {sequence} DESC"
    # Identifiers and the action list are Quill's own; every value is a parameter.
    sql = f"""
        WITH events AS ({inner}),
        marked AS (
            SELECT id, {sequence},
                   CASE WHEN action IN ({", ".join(["%s"] * len(repeated))})
                         AND action = LAG(action) OVER ({newest_first})
                         AND outcome = LAG(outcome) OVER ({newest_first})
                         AND COALESCE(actor_id, -1) = COALESCE(LAG(actor_id) OVER ({newest_first}), -1)
                        THEN 0 ELSE 1 END AS starts_run
            FROM events
        ),
        numbered AS (
            SELECT id, starts_run,
                   LEAD(starts_run, 1, 1) OVER ({newest_first}) AS ends_run,
                   SUM(starts_run) OVER ({newest_first} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
            FROM marked
        )
        SELECT MAX(CASE WHEN starts_run = 1 THEN id END), MAX(CASE WHEN ends_run = 1 THEN id END), COUNT(*)
        FROM numbered
        GROUP BY run
        ORDER BY run
        LIMIT %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *repeated, limit])
        return [(int(last), int(first), int(count)) for last, first, count in cursor.fetchall()]
