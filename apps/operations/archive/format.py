"""The archive's layout and row encoding, shared by the export and the restore.

What goes in which member, which rows are in scope (one organisation or all), and how a row
becomes one JSON line and back. Rows are JSON objects keyed by column (``attname``) with
full-precision timestamps: audit hashes depend on the microseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.core import serializers
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation, User
from apps.audit.models import AuditEvent, ChainHead
from apps.documents.models import Annotation, Document, ErasureRequest
from apps.fhir.models import MhdSettings, SubmissionSet, SubmissionSetEntry
from apps.inbox.models import FiledDocument, InboxItem, IntakeSource, MailMessage
from apps.letters.models import Letter
from apps.operations.errors import ArchiveError
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient
from apps.reviews.models import Review, Team

M = TypeVar("M", bound=models.Model)

FORMAT = "quill-archive"
VERSION = 1
MANIFEST = "manifest.json"
OBJECT_INDEX = "objects.jsonl"
EVENTS = "audit/events.jsonl"
CHAIN_HEADS = "rows/chain_heads.jsonl"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Table:
    file: str
    model: type[models.Model]
    rows: Callable[[Scope], models.QuerySet]
    # Added after archives were first written: an older archive without this member restores no rows of it.
    added_later: bool = False


@dataclass
class Scope:
    organisation_ids: list[uuid.UUID] | None  # None: everything

    def orgs(self, lookup: str = "organisation_id") -> Q:
        return Q() if self.organisation_ids is None else Q(**{f"{lookup}__in": self.organisation_ids})

    @property
    def chains(self) -> list[str] | None:
        return None if self.organisation_ids is None else [str(pk) for pk in self.organisation_ids]


def users_in_scope(scope: Scope) -> models.QuerySet:
    """All users, or the organisation's plus anyone its rows point at (e.g. a platform superuser)."""
    if scope.organisation_ids is None:
        return User.objects.order_by("pk")
    patient_orgs, document_orgs = scope.orgs("patient__organisation_id"), scope.orgs("document__organisation_id")
    documents = Document.objects.filter(scope.orgs())
    sources = [
        documents.values_list("uploaded_by_id", flat=True),
        documents.exclude(deleted_by=None).values_list("deleted_by_id", flat=True),
        Letter.objects.filter(scope.orgs()).values_list("author_id", flat=True),
        Annotation.objects.filter(document_orgs).values_list("author_id", flat=True),
        CareTeamMember.objects.filter(patient_orgs).values_list("user_id", flat=True),
        BreakGlassAccess.objects.filter(patient_orgs).values_list("user_id", flat=True),
        ErasureRequest.objects.filter(scope.orgs()).exclude(recorded_by=None).values_list("recorded_by_id", flat=True),
        SubmissionSet.objects.filter(scope.orgs()).values_list("received_by_id", flat=True),
        filed_items_in_scope(scope).exclude(closed_by=None).values_list("closed_by_id", flat=True),
        FiledDocument.objects.filter(scope.orgs("item__organisation_id")).values_list("filed_by_id", flat=True),
        intake_sources_in_scope(scope).exclude(default_reviewer=None).values_list("default_reviewer_id", flat=True),
        Team.members.through.objects.filter(scope.orgs("team__organisation_id")).values_list("user_id", flat=True),
    ]
    reviews = Review.objects.filter(scope.orgs())
    sources += [reviews.values_list("assigned_by_id", flat=True)]
    sources += [reviews.exclude(**{f"{name}_id": None}).values_list(f"{name}_id", flat=True)
                for name in ("assignee", "completed_by")]  # fmt: skip
    referenced = set().union(*(set(source) for source in sources))
    return User.objects.filter(scope.orgs() | Q(pk__in=referenced)).order_by("pk")


def filed_items_in_scope(scope: Scope) -> models.QuerySet:
    """The inbox items documents were filed from: the filing provenance (a split item once, however many parts).

    Items still waiting, rejected, refused or flagged as duplicates are the inbox's working state, not the
    record: a restore starts with an empty inbox.
    """
    return InboxItem.objects.filter(scope.orgs(), filed_documents__isnull=False).distinct().order_by("pk")


def mail_messages_in_scope(scope: Scope) -> models.QuerySet:
    """The e-mails filed items came in (sender, subject, Message-ID, the .eml), and no others."""
    return MailMessage.objects.filter(pk__in=filed_items_in_scope(scope).values("mail_message_id")).order_by("pk")


def intake_sources_in_scope(scope: Scope) -> models.QuerySet:
    """The sources filed items and their e-mails came from (restored switched off: see restore.py)."""
    items, messages = filed_items_in_scope(scope), mail_messages_in_scope(scope)
    return IntakeSource.objects.filter(
        Q(pk__in=items.values("source_id")) | Q(pk__in=messages.values("source_id"))
    ).order_by("pk")


def chain_heads_in_scope(scope: Scope) -> models.QuerySet:
    heads = ChainHead.objects.order_by("chain")
    return heads if scope.chains is None else heads.filter(chain__in=scope.chains)


TABLES = [
    Table("rows/organisations.jsonl", Organisation, lambda s: Organisation.objects.filter(s.orgs("pk")).order_by("pk")),
    Table("rows/users.jsonl", User, users_in_scope),
    Table("rows/patients.jsonl", Patient, lambda s: Patient.objects.filter(s.orgs()).order_by("pk")),
    Table(
        "rows/care_team.jsonl",
        CareTeamMember,
        lambda s: CareTeamMember.objects.filter(s.orgs("patient__organisation_id")).order_by("pk"),
    ),
    Table(
        "rows/break_glass.jsonl",
        BreakGlassAccess,
        lambda s: BreakGlassAccess.objects.filter(s.orgs("patient__organisation_id")).order_by("pk"),
    ),
    Table(
        "rows/documents.jsonl",
        Document,
        lambda s: Document.objects.filter(s.orgs()).order_by("lineage_id", "version_number"),
    ),
    Table(
        "rows/annotations.jsonl",
        Annotation,
        lambda s: Annotation.objects.filter(s.orgs("document__organisation_id")).order_by("pk"),
    ),
    Table("rows/letters.jsonl", Letter, lambda s: Letter.objects.filter(s.orgs()).order_by("created_at", "pk")),
    Table(
        "rows/erasure_requests.jsonl", ErasureRequest, lambda s: ErasureRequest.objects.filter(s.orgs()).order_by("pk")
    ),
    Table("rows/mhd_settings.jsonl", MhdSettings, lambda s: MhdSettings.objects.filter(s.orgs()).order_by("pk")),
    Table("rows/submission_sets.jsonl", SubmissionSet, lambda s: SubmissionSet.objects.filter(s.orgs()).order_by("pk")),
    Table(
        "rows/submission_set_entries.jsonl",
        SubmissionSetEntry,
        lambda s: SubmissionSetEntry.objects.filter(s.orgs()).order_by("pk"),
    ),
    Table("rows/review_teams.jsonl", Team, lambda s: Team.objects.filter(s.orgs()).order_by("pk"), added_later=True),
    Table(
        "rows/review_team_members.jsonl",
        Team.members.through,
        lambda s: Team.members.through.objects.filter(s.orgs("team__organisation_id")).order_by("pk"),
        added_later=True,
    ),
    Table(
        "rows/reviews.jsonl",
        Review,
        lambda s: Review.objects.filter(s.orgs()).order_by("assigned_at", "pk"),
        added_later=True,
    ),
    Table("rows/intake_sources.jsonl", IntakeSource, intake_sources_in_scope, added_later=True),
    Table("rows/inbox_mail_messages.jsonl", MailMessage, mail_messages_in_scope, added_later=True),
    Table("rows/inbox_filed_items.jsonl", InboxItem, filed_items_in_scope, added_later=True),
    Table(
        "rows/inbox_filed_documents.jsonl",
        FiledDocument,
        lambda s: FiledDocument.objects.filter(s.orgs("item__organisation_id")).order_by("pk"),
        added_later=True,
    ),
    Table(CHAIN_HEADS, ChainHead, chain_heads_in_scope),
]
# Models whose rows an archive leaves out, and why (a test checks every model is in one list or the other).
NOT_ARCHIVED = {
    "accounts.ApiToken": "credentials: integrators are issued new tokens on the restored installation",
    "outbox.OutboxMessage": "delivery queue: run resync_fhir --all / resync_ehr after a restore",
    "documents.DocumentPage": "search index derived from the documents: run reindex_text --all after a restore",
    "documents.TextSettings": "OCR languages, set by the platform's operators: set them again after a restore",
    "inbox.InboxSettings": "per-organisation inbox switches: set them again after a restore",
    "inbox.CategoryRule": "inbox configuration (keyword rules for suggested categories): "
    "set them again after a restore",
    "inbox.CategoryClassifier": "derived from the filed documents and retrained nightly "
    "(inbox.retrain_category_classifiers)",
}
IMPORTED_MODELS = [table.model for table in TABLES] + [AuditEvent]


# --- Row encoding ------------------------------------------------------------------------------


def _fields(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()  # full precision: audit hashes depend on the microseconds
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def encode_row(obj: models.Model) -> dict[str, Any]:
    return {f.attname: _plain(f.value_from_object(obj)) for f in _fields(type(obj))}


def decode_row(model: type[M], row: dict[str, Any]) -> M:
    """The unsaved model instance for one archived row, built by Django's Python deserializer."""
    # A column added after the archive was written takes its declared default; any other gap is damage.
    missing = [f for f in _fields(model) if f.attname not in row]
    if lacking := [f.attname for f in missing if not f.has_default()]:
        raise ArchiveError(f"{model._meta.label} row lacks {lacking[0]}")
    row = {**row, **{f.attname: _plain(f.get_default()) for f in missing}}
    pk = model._meta.pk
    serialized = {
        "model": model._meta.label_lower,
        "pk": row[pk.attname],
        "fields": {f.name: row[f.attname] for f in _fields(model) if f is not pk},
    }
    try:
        [deserialized] = serializers.deserialize("python", [serialized])
    except serializers.base.DeserializationError as exc:
        raise ArchiveError(f"{model._meta.label} row {row[pk.attname]} cannot be read: {exc}") from exc
    obj = deserialized.object
    assert isinstance(obj, model), f"{model._meta.label_lower} deserialized as {type(obj).__name__}"
    return obj


def check_key(key: str) -> None:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ArchiveError(f"unsafe storage key in the archive: {key!r}")
