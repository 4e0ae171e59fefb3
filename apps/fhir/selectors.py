"""Reading documents and patients for ``/fhir/r4/``.

Everything starts from the app selectors (``documents_visible_to``, ``document_get_for``,
``patients_visible_to``, ``patient_get_for``), so organisation isolation, the billing
role's categories and restricted records are enforced there, never here or in a view.
This module only narrows those querysets by the FHIR search criteria.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Field, Max, Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.security_log import security_log_cross_organisation
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document
from apps.documents.search.query import documents_with_text_condition
from apps.documents.selectors import document_get_for, documents_visible_to
from apps.fhir.errors import DocumentGone, InvalidCursor
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import patient_get_for, patients_visible_to
from quill.errors import NotFound

from . import codes
from .facts import documents_for_facts
from .models import CONFIDENTIALITY_SYSTEM, MhdSettings, SubmissionSet, SubmissionSetEntry
from .paging import Cursor, read_cursor
from .responder import DateParam, TokenParam
from .search import DOCUMENT_SEARCH, LIST_SEARCH, PATIENT_SEARCH, SearchRequest, SortKey, StringParam, as_uuid

NOTHING = Q(pk__in=[])
# "No restriction" as a condition that survives OR: NOTHING | Q() is NOTHING in Django (an empty Q
# drops out of a combination), so a value that matches everything must be a real condition.
EVERYTHING = ~Q(pk__in=[])


@dataclass(frozen=True)
class Page:
    """One page of a search: ``total`` matches as of the search's snapshot, the rows, and where to go next."""

    total: int
    rows: list
    next: Cursor | None = None
    previous: Cursor | None = None


@dataclass(frozen=True)
class Ordering:
    """How a resource's search is sorted: ``_sort`` parameter -> column, the default, and the snapshot column."""

    columns: dict[str, str]
    default: tuple[SortKey, ...]
    created_column: str  # when a row came to exist: later pages take only rows created by the snapshot


DOCUMENT_ORDERING = Ordering(
    columns={
        "date": "uploaded_at",
        "creation": "document_date",
        "period": "document_date",
        "_lastUpdated": "updated_at",
        "_id": "id",
    },
    default=DOCUMENT_SEARCH.default_sort,
    created_column="uploaded_at",
)
PATIENT_ORDERING = Ordering(
    columns={
        "family": "family_name",
        "given": "given_name",
        "birthdate": "date_of_birth",
        "_lastUpdated": "updated_at",
        "_id": "id",
    },
    default=PATIENT_SEARCH.default_sort,
    created_column="created_at",
)
LIST_ORDERING = Ordering(
    columns={"date": "submitted_at", "_lastUpdated": "received_at", "_id": "id"},
    default=LIST_SEARCH.default_sort,
    created_column="received_at",
)


# --- Documents -----------------------------------------------------------------------------------


def fhir_documents_visible_to(user: User) -> QuerySet[Document]:
    """What ``/fhir/r4/DocumentReference`` can show ``user``: every version, not deleted, clean only."""
    return documents_visible_to(user, all_versions=True).filter(scan_status__in=AVAILABLE_SCAN_STATUSES)


def fhir_document_search(*, user: User, search: SearchRequest) -> Page:
    """One page of matching documents (newest upload first unless ``_sort`` says otherwise).

    Two queries whatever the page size: the count (with the snapshot) and the page.
    """
    documents = fhir_documents_visible_to(user)
    for clause in search.clauses:
        documents = documents.filter(_any_of(_DOCUMENT_CONDITIONS[clause.name], clause.values))
    return _keyset_page(documents, search=search, ordering=DOCUMENT_ORDERING, user=user, prepare=documents_for_facts)


def fhir_document_get(*, user: User, document_id: str, action: str) -> Document:
    """One document version for ``user``: 404 unknown or another organisation's, 410 deleted, 403 role."""
    try:
        return document_get_for(user=user, document_id=document_id, action=action)
    except NotFound:
        document_uuid = as_uuid(document_id)
        deleted = (
            document_uuid is not None
            and documents_visible_to(user, include_deleted=True, all_versions=True)
            .filter(pk=document_uuid, deleted_at__isnull=False)
            .exists()
        )
        if deleted:
            raise DocumentGone() from None
        raise


def _any_of(condition_for: Callable[[Any], Q], values: tuple[Any, ...]) -> Q:
    """OR of a clause's alternatives."""
    condition = NOTHING
    for value in values:
        condition |= condition_for(value)
    return condition


def _by_id(token: TokenParam) -> Q:
    document_uuid = as_uuid(token.code)
    return Q(pk=document_uuid) if document_uuid else NOTHING


def _by_identifier(token: TokenParam) -> Q:
    if token.system == codes.QUILL_DOCUMENT_SYSTEM:
        return EVERYTHING if token.code is None else _by_id(token)
    if token.system == codes.URI_SYSTEM:
        if token.code is None:
            return EVERYTHING
        code = token.code.lower()
        return _by_id(TokenParam(None, code.removeprefix("urn:uuid:"))) if code.startswith("urn:uuid:") else NOTHING
    if token.system is None and token.code:
        return _by_id(TokenParam(None, token.code.lower().removeprefix("urn:uuid:")))
    return NOTHING


def _by_patient(patient_id: uuid.UUID | None) -> Q:
    return Q(patient_id=patient_id) if patient_id else NOTHING


def _by_patient_identifier(token: TokenParam) -> Q:
    return patient_identifier_condition(token, prefix="patient__")


def _by_status(token: TokenParam) -> Q:
    # Deleted documents are never served (a read answers 410), so entered-in-error matches nothing.
    return {"current": Q(is_current=True), "superseded": Q(is_current=False)}.get(token.code or "", NOTHING)


def _by_category(token: TokenParam) -> Q:
    if token.system not in (None, codes.QUILL_CATEGORY_SYSTEM):
        return NOTHING
    if token.code is None:
        return EVERYTHING
    return Q(category=token.code) if token.code in codes.QUILL_CATEGORIES else NOTHING


def _by_type(token: TokenParam) -> Q:
    categories = [
        category
        for category, coding in codes.CATEGORY_CODES.items()
        if (token.system is None or token.system == coding.type.system)
        and (token.code is None or token.code == coding.type.code)
    ]
    return Q(category__in=categories) if categories else NOTHING


def day_condition(field: str, param: DateParam) -> Q:
    """FHIR date prefix semantics over a date column: each row stands for its whole day."""
    start, end = param.interval(timezone.get_current_timezone())
    tz = timezone.get_current_timezone()
    first = timezone.localtime(start, tz).date()
    last = timezone.localtime(end - dt.timedelta(microseconds=1), tz).date()
    after = last + dt.timedelta(days=1)
    return {
        "eq": Q(**{f"{field}__gte": first, f"{field}__lt": after}),
        "ge": Q(**{f"{field}__gte": first}),
        "gt": Q(**{f"{field}__gte": after}),
        "le": Q(**{f"{field}__lt": after}),
        "lt": Q(**{f"{field}__lt": first}),
    }[param.op]


def date_condition(field: str, param: DateParam) -> Q:
    """FHIR date prefix semantics over an instant column; partial dates are read in Quill's time zone."""
    start, end = param.interval(timezone.get_current_timezone())
    return {
        "eq": Q(**{f"{field}__gte": start, f"{field}__lt": end}),
        "ge": Q(**{f"{field}__gte": start}),
        "gt": Q(**{f"{field}__gte": end}),
        "le": Q(**{f"{field}__lt": end}),
        "lt": Q(**{f"{field}__lt": start}),
    }[param.op]


def _clinical_day_condition(param: DateParam) -> Q:
    """creation and period: the clinical date, only where someone gave one (else FHIR leaves it out)."""
    return Q(document_date_given=True) & day_condition("document_date", param)


def _author_name_condition(param: StringParam, *, family: bool) -> Q:
    """The uploader's full name split as the contained Practitioner's: last word family, words before given."""
    value = re.escape(param.value)
    # family is the last word; a given name is any word followed by another one.
    tail = r"\s*$" if family else r"\s+\S"
    if param.modifier == "exact":
        return Q(uploaded_by__full_name__regex=rf"(^|\s){value}{tail}")
    if param.modifier == "contains":
        return Q(uploaded_by__full_name__iregex=rf"\S*{value}\S*{tail}")
    return Q(uploaded_by__full_name__iregex=rf"(^|\s){value}\S*{tail}")


def _setting_condition(field: str, token: TokenParam, *, system_field: str | None, system: str = "") -> Q:
    """A code from the organisation's MHD settings (or their defaults when it has no settings row)."""
    defaults = MhdSettings()
    default_code = getattr(defaults, field)
    default_system = getattr(defaults, system_field) if system_field else system
    if token.system is not None and system_field is None and token.system != system:
        return NOTHING
    stored = EVERYTHING
    if token.code is not None:
        stored &= Q(**{f"organisation__mhd_settings__{field}": token.code})
    if token.system is not None and system_field is not None:
        stored &= Q(**{f"organisation__mhd_settings__{system_field}": token.system})
    defaults_match = (token.code is None or token.code == default_code) and (
        token.system is None or token.system == default_system
    )
    if defaults_match:
        return stored | Q(organisation__mhd_settings__isnull=True)
    return stored & Q(organisation__mhd_settings__isnull=False)


def _by_format(token: TokenParam) -> Q:
    """Every Quill document has the format code 'mimeType sufficient'."""
    coding = codes.MIME_TYPE_SUFFICIENT
    matches = token.system in (None, coding.system) and token.code in (None, coding.code)
    return EVERYTHING if matches else NOTHING


def _by_event(token: TokenParam) -> Q:
    """Quill records no event codes (context.event), so no document has the one asked for."""
    return NOTHING


def _by_related(value: TokenParam | str) -> Q:
    """context.related holds the encounter id as an identifier; a literal reference matches nothing."""
    if isinstance(value, str):
        return NOTHING
    if value.system not in (None, codes.QUILL_ENCOUNTER_SYSTEM):
        return NOTHING
    return ~Q(encounter_id="") if value.code is None else Q(encounter_id=value.code)


_DOCUMENT_CONDITIONS: dict[str, Callable[[Any], Q]] = {
    "_id": _by_id,
    "identifier": _by_identifier,
    "patient": _by_patient,
    "patient.identifier": _by_patient_identifier,
    "status": _by_status,
    "category": _by_category,
    "type": _by_type,
    "date": lambda param: date_condition("uploaded_at", param),
    "_lastUpdated": lambda param: date_condition("updated_at", param),
    "creation": _clinical_day_condition,
    "period": _clinical_day_condition,
    "author.given": lambda param: _author_name_condition(param, family=False),
    "author.family": lambda param: _author_name_condition(param, family=True),
    "security-label": lambda token: _setting_condition(
        "confidentiality", token, system_field=None, system=CONFIDENTIALITY_SYSTEM
    ),
    "facility": lambda token: _setting_condition("facility_type_code", token, system_field="facility_type_system"),
    "setting": lambda token: _setting_condition("practice_setting_code", token, system_field="practice_setting_system"),
    "format": _by_format,
    "event": _by_event,
    "related": _by_related,
    "_content": documents_with_text_condition,
}


# --- SubmissionSets (ITI-66) ----------------------------------------------------------------------


def fhir_submission_sets_visible_to(user: User) -> QuerySet[SubmissionSet]:
    """Received SubmissionSets of the patients ``user`` may open; entries only for documents they may see.

    Each carries ``entries_updated_at``, the latest change of any of its documents (seen or
    not), from which the List's version is read (``facts.submission_set_version_id``).
    """
    visible_documents = fhir_documents_visible_to(user).values("pk")
    latest_entry_change = (
        SubmissionSetEntry.objects.filter(submission_set=OuterRef("pk"))
        .order_by("-document__updated_at")
        .values("document__updated_at")[:1]
    )
    return (
        SubmissionSet.objects.filter(patient__in=patients_visible_to(user))
        .annotate(entries_updated_at=Subquery(latest_entry_change))
        .select_related("patient")
        .prefetch_related(
            Prefetch("entries", queryset=SubmissionSetEntry.objects.filter(document__in=visible_documents))
        )
    )


def fhir_submission_set_search(*, user: User, search: SearchRequest) -> Page:
    """One page of matching SubmissionSets (latest received first unless ``_sort`` says otherwise)."""
    submission_sets = fhir_submission_sets_visible_to(user)
    for clause in search.clauses:
        submission_sets = submission_sets.filter(_any_of(_LIST_CONDITIONS[clause.name], clause.values))
    return _keyset_page(submission_sets, search=search, ordering=LIST_ORDERING, user=user, prepare=lambda rows: rows)


def fhir_submission_set_get(*, user: User, list_id: str) -> SubmissionSet:
    """One SubmissionSet: 404 when unknown, another organisation's or a patient the caller may not open."""
    submission_set_id = as_uuid(list_id)
    found = fhir_submission_sets_visible_to(user).filter(pk=submission_set_id).first() if submission_set_id else None
    if found is None:
        owner = (
            SubmissionSet.objects.filter(pk=submission_set_id).values_list("organisation_id", flat=True).first()
            if submission_set_id
            else None
        )
        if owner is not None and owner != user.organisation_id:  # the installation's log, never the caller's chain
            security_log_cross_organisation(
                actor=user,
                object_type="submission_set",
                object_id=submission_set_id,
                owner_organisation_id=owner,
                attempted="fhir.list.read",
            )
        raise NotFound("No such List.")
    return found


def _list_by_code(token: TokenParam) -> Q:
    # Quill keeps SubmissionSets only: code=folder matches nothing.
    if token.system not in (None, codes.MHD_LIST_TYPES_SYSTEM):
        return NOTHING
    return EVERYTHING if token.code in (None, "submissionset") else NOTHING


def _list_by_status(token: TokenParam) -> Q:
    # A received SubmissionSet is never retired or withdrawn.
    return EVERYTHING if token.code == "current" else NOTHING


def _list_by_identifier(token: TokenParam) -> Q:
    if token.system not in (None, codes.URI_SYSTEM) or token.code is None:
        return EVERYTHING if token.system == codes.URI_SYSTEM else NOTHING
    code = token.code
    condition = Q(unique_id=code)
    if code.lower().startswith("urn:uuid:"):
        list_uuid = as_uuid(code[len("urn:uuid:") :])
        condition |= Q(pk=list_uuid) if list_uuid else NOTHING
        condition |= Q(entry_uuid__iexact=code)
    return condition


_LIST_CONDITIONS: dict[str, Callable[[Any], Q]] = {
    "_id": _by_id,
    "patient": _by_patient,
    "patient.identifier": _by_patient_identifier,
    "code": _list_by_code,
    "status": _list_by_status,
    "identifier": _list_by_identifier,
    "date": lambda param: date_condition("submitted_at", param),
    "_lastUpdated": lambda param: date_condition("received_at", param),
}


# --- Patients ------------------------------------------------------------------------------------


def fhir_patient_get(*, user: User, patient_id: str) -> Patient:
    """One patient ``user`` may view (404 outside the organisation, 403 role or restricted record)."""
    return patient_get_for(user=user, patient_id=patient_id, action=PatientAction.VIEW)


def fhir_patient_search(*, user: User, search: SearchRequest) -> Page:
    """One page of matching patients (by family then given name unless ``_sort`` says otherwise)."""
    patients = patients_visible_to(user)
    for clause in search.clauses:
        patients = patients.filter(_any_of(_PATIENT_CONDITIONS[clause.name], clause.values))
    return _keyset_page(patients, search=search, ordering=PATIENT_ORDERING, user=user, prepare=lambda rows: rows)


def fhir_patients_for_include(*, user: User, patient_ids: Iterable[uuid.UUID]) -> list[Patient]:
    """The patients a page's ``_include=DocumentReference:subject`` adds: one query, visibility rules applied."""
    return list(patients_visible_to(user).filter(pk__in=set(patient_ids)).order_by("pk"))


def _string_condition(field: str, param: StringParam) -> Q:
    """FHIR string matching on one column; "starts with" also matches a later word (second given names)."""
    if param.modifier == "exact":
        return Q(**{field: param.value})
    if param.modifier == "contains":
        return Q(**{f"{field}__icontains": param.value})
    return Q(**{f"{field}__istartswith": param.value}) | Q(**{f"{field}__icontains": f" {param.value}"})


def _by_family(param: StringParam) -> Q:
    return _string_condition("family_name", param)


def _by_given(param: StringParam) -> Q:
    return _string_condition("given_name", param)


def _by_name(param: StringParam) -> Q:
    return _by_family(param) | _by_given(param)


def _by_gender(token: TokenParam) -> Q:
    return Q(sex=token.code)


def patient_identifier_condition(token: TokenParam, *, prefix: str = "") -> Q:
    """A patient identifier token: NHS number, Quill patient id or MRN (any of them when no system)."""
    nhs, mrn = f"{prefix}nhs_number", f"{prefix}mrn__iexact"
    pk = "patient_id" if prefix else "pk"
    code = token.code
    if token.system == codes.NHS_NUMBER_SYSTEM:
        return ~Q(**{nhs: ""}) if code is None else Q(**{nhs: code.replace(" ", "")})
    if token.system == codes.QUILL_MRN_SYSTEM:
        return ~Q(**{f"{prefix}mrn": ""}) if code is None else Q(**{mrn: code})
    if token.system == codes.QUILL_PATIENT_SYSTEM:
        if code is None:
            return EVERYTHING
        patient_uuid = as_uuid(code)
        return Q(**{pk: patient_uuid}) if patient_uuid else NOTHING
    if token.system is None and code:
        patient_uuid = as_uuid(code)
        condition = Q(**{nhs: code.replace(" ", "")}) | Q(**{mrn: code})
        return (condition | Q(**{pk: patient_uuid})) if patient_uuid else condition
    return NOTHING


_PATIENT_CONDITIONS: dict[str, Callable[[Any], Q]] = {
    "_id": _by_id,
    "identifier": patient_identifier_condition,
    "family": _by_family,
    "given": _by_given,
    "name": _by_name,
    "birthdate": lambda param: day_condition("date_of_birth", param),
    "gender": _by_gender,
    "_lastUpdated": lambda param: date_condition("updated_at", param),
}


# --- Keyset paging -------------------------------------------------------------------------------


def _keyset_page(
    queryset: QuerySet,
    *,
    search: SearchRequest,
    ordering: Ordering,
    user: User,
    prepare: Callable[[QuerySet], QuerySet],
) -> Page:
    """A page of ``queryset`` in the search's order, after (or before) the cursor's position.

    The order always ends with the primary key, so every row has exactly one position and
    paging never repeats or skips a row whatever ``_sort`` says. The first page records the
    snapshot (now, or the newest matching row if a clock ran ahead); later pages count and
    show only rows that existed by then.
    """
    columns = _order_columns(search, ordering)
    cursor = None
    if search.cursor:
        cursor = read_cursor(
            search.cursor,
            resource_type=search.resource_type,
            organisation_id=user.organisation_id,
            criteria=search.criteria(),
        )
    if cursor is not None:
        snapshot = cursor.snapshot
        queryset = queryset.filter(**{f"{ordering.created_column}__lte": snapshot})
        total = queryset.count()
    else:
        counted = queryset.aggregate(total=Count("pk"), newest=Max(ordering.created_column))
        total, snapshot = counted["total"], max(filter(None, (timezone.now(), counted["newest"])))
    if search.only_total:
        return Page(total=total, rows=[])
    backwards = cursor is not None and cursor.backwards
    walk = [(column, descending != backwards) for column, descending in columns]
    if cursor is not None:
        queryset = queryset.filter(_after(queryset.model, walk, cursor.key))
    order_by = [f"-{column}" if descending else column for column, descending in walk]
    rows = list(prepare(queryset.order_by(*order_by))[: search.count + 1])
    more, rows = len(rows) > search.count, rows[: search.count]
    if backwards:
        rows.reverse()
    if not rows:
        return Page(total=total, rows=[])

    def at(row: Any, *, back: bool = False) -> Cursor:
        return Cursor(snapshot=snapshot, key=_key_of(row, columns), backwards=back)

    if backwards:
        return Page(total=total, rows=rows, next=at(rows[-1]), previous=at(rows[0], back=True) if more else None)
    return Page(
        total=total,
        rows=rows,
        next=at(rows[-1]) if more else None,
        previous=at(rows[0], back=True) if cursor is not None else None,
    )


def _order_columns(search: SearchRequest, ordering: Ordering) -> list[tuple[str, bool]]:
    """(column, descending) for each sort key, ending with the primary key as the tie-break."""
    columns: list[tuple[str, bool]] = []
    for key in search.sort or ordering.default:
        column = ordering.columns[key.name]
        if column not in {existing for existing, _ in columns}:
            columns.append((column, key.descending))
    if "id" not in {column for column, _ in columns}:
        columns.append(("id", columns[0][1]))
    return columns


def _key_of(row: Any, columns: list[tuple[str, bool]]) -> tuple[str, ...]:
    values = []
    for column, _ in columns:
        value = getattr(row, column)
        values.append(value.isoformat() if isinstance(value, dt.date) else str(value))
    return tuple(values)


def _after(model: type[Model], walk: list[tuple[str, bool]], key: tuple[str, ...]) -> Q:
    """Rows strictly after ``key`` in the order ``walk``: (a > x) or (a = x and b > y) or …"""
    if len(key) != len(walk):
        raise InvalidCursor()
    try:
        values = [_column(model, column).to_python(raw) for (column, _), raw in zip(walk, key, strict=True)]
    except ValidationError:
        raise InvalidCursor() from None
    condition = NOTHING
    equal = Q()
    for (column, descending), value in zip(walk, values, strict=True):
        condition |= equal & Q(**{f"{column}__{'lt' if descending else 'gt'}": value})
        equal &= Q(**{column: value})
    first_column, first_descending = walk[0]
    # Redundant with the OR above, but lets the database range-scan an index on the first column.
    return Q(**{f"{first_column}__{'lte' if first_descending else 'gte'}": values[0]}) & condition


def _column(model: type[Model], name: str) -> Field:
    column = model._meta.get_field(name)
    assert isinstance(column, Field)  # the sort columns are plain columns, never relations
    return column
