"""Reading the audit trail. Organisation isolation lives here: nobody reads another organisation's chain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit.errors import AuditFilterInvalid
from apps.audit.models import AuditEvent


def audit_events_visible_to(user: Any) -> QuerySet[AuditEvent]:
    """Events of the user's own organisation, for administrators and owners; nothing for anyone else."""
    if not getattr(user, "is_authenticated", False) or user.organisation_id is None or not user.is_manager:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(organisation_id=user.organisation_id)


def audit_events_for_patient(*, patient: Any) -> QuerySet[AuditEvent]:
    """Who viewed or changed this patient's record, and when: newest first.

    The caller has already been allowed to see the report (patients.selectors.patient_get_for).
    """
    return AuditEvent.objects.filter(organisation_id=patient.organisation_id, patient_id=patient.pk).order_by(
        "-occurred_at", "-sequence"
    )


_LONGEST_USER_ID = 18  # digits that always fit the BIGINT actor_id


def _actor_q(actor: str) -> Q:
    """A user id (ASCII digits; a longer number than any id matches nobody) or an email address."""
    if actor.isascii() and actor.isdigit():
        return Q(actor_id=int(actor)) if len(actor) <= _LONGEST_USER_ID else Q(pk__in=[])
    return Q(actor_username__iexact=actor)


@dataclass(frozen=True)
class AuditFilters:
    patient_id: uuid.UUID | None = None
    actor: str = ""
    action: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None

    def as_details(self) -> dict[str, str]:
        values = {
            "patient_id": str(self.patient_id) if self.patient_id else "",
            "actor": self.actor,
            "action": self.action,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in values.items() if value}


UNREADABLE_MOMENT = "Use a date such as 2026-01-31 or a date and time such as 2026-01-31T09:00Z."


def _moment(text: str, field: str, *, end_of_day: bool) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    day: date | None = None
    try:
        day = parse_date(text)  # a bare date first: parse_datetime would read it as midnight
    except ValueError:
        day = None
    if day is None:
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            raise AuditFilterInvalid(field, UNREADABLE_MOMENT)
        try:
            # In UTC: PostgreSQL refuses offsets beyond its range (-16:02 is valid ISO 8601).
            return (moment if timezone.is_aware(moment) else timezone.make_aware(moment)).astimezone(UTC)
        except OverflowError as exc:  # within an offset of year 1 or 9999
            raise AuditFilterInvalid(field, UNREADABLE_MOMENT) from exc
    try:
        if end_of_day:  # a date_to of 2026-01-31 includes the whole of that day
            return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min)) - timedelta(microseconds=1)
        return timezone.make_aware(datetime.combine(day, time.min))
    except OverflowError as exc:
        raise AuditFilterInvalid(field, UNREADABLE_MOMENT) from exc


def audit_filters_parse(
    *, patient_id: str = "", actor: str = "", action: str = "", date_from: str = "", date_to: str = ""
) -> AuditFilters:
    """Parse query parameters; raises AuditFilterInvalid naming the field it could not read."""
    parsed_patient = None
    if (patient_id or "").strip():
        try:
            parsed_patient = uuid.UUID(patient_id.strip())
        except ValueError as exc:
            raise AuditFilterInvalid("patient_id", "patient_id must be a patient's id (a UUID).") from exc
    return AuditFilters(
        patient_id=parsed_patient,
        actor=(actor or "").strip(),
        action=(action or "").strip(),
        date_from=_moment(date_from, "date_from", end_of_day=False),
        date_to=_moment(date_to, "date_to", end_of_day=True),
    )


def _is_user_id(text: str) -> bool:
    """Digits (ASCII, within a database integer) are a user id; anything else an email address."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def audit_event_search(*, user: Any, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The user's organisation's events matching `filters`, newest first.

    `actor` is a user id or an email address (exact, any case); `action` is exact,
    or a prefix when it ends with "." or "*" (e.g. "auth." or "patient.*").
    """
    events = audit_events_visible_to(user)
    if filters.patient_id:
        events = events.filter(patient_id=filters.patient_id)
    if filters.actor:
        events = events.filter(_actor_q(filters.actor))
    if filters.action:
        prefix = filters.action.rstrip("*")
        if filters.action.endswith(("*", ".")):
            events = events.filter(action__startswith=prefix)
        else:
            events = events.filter(action=filters.action)
    if filters.date_from:
        events = events.filter(occurred_at__gte=filters.date_from)
    if filters.date_to:
        events = events.filter(occurred_at__lte=filters.date_to)
    return events.order_by("-sequence")
