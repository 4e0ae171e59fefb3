"""A patient's access report: who viewed or changed the record, in words, filtered, and as CSV.

Reads only (the view audits that the report was read or exported). Names come from
accounts, titles of documents and letters from the apps that own them
(``apps.patients.titles``), labels from the audit action registry.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.selectors import user_names
from apps.audit.actions import Action, action_label
from apps.audit.models import AuditEvent
from apps.audit.reasons import denial_reason
from apps.audit.selectors import audit_events_for_patient
from apps.patients.models import Patient
from apps.patients.titles import object_titles
from quill import extensions

CSV_COLUMNS = ("When", "Who", "What", "About", "Outcome", "Details")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AccessReportFilters:
    date_from: date | None = None
    date_to: date | None = None
    actor_id: int | None = None
    action: str = ""

    def as_details(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.__dict__.items() if value}


def access_report_events(*, patient: Patient, filters: AccessReportFilters) -> QuerySet[AuditEvent]:
    events = audit_events_for_patient(patient=patient)
    zone = timezone.get_current_timezone()
    if filters.date_from:
        events = events.filter(occurred_at__gte=datetime.combine(filters.date_from, time.min, tzinfo=zone))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=zone)
        events = events.filter(occurred_at__lt=end)
    if filters.actor_id:
        events = events.filter(actor_id=filters.actor_id)
    if filters.action:
        events = events.filter(action=filters.action)
    return events


def access_report_people(*, patient: Patient) -> list[tuple[int, str]]:
    """Everyone who appears in the report, by name, for the "Who" filter."""
    events = audit_events_for_patient(patient=patient).exclude(actor_id=None).order_by()
    names = user_names([pk for pk in events.values_list("actor_id", flat=True).distinct() if pk is not None])
    return sorted(names.items(), key=lambda item: item[1].lower())


def access_report_actions(*, patient: Patient) -> list[tuple[str, str]]:
    """The kinds of event in the report, by label, for the "What" filter."""
    actions = audit_events_for_patient(patient=patient).order_by().values_list("action", flat=True).distinct()
    return sorted(((action, action_label(action)) for action in actions), key=lambda item: item[1])


def access_report_rows(events: list[AuditEvent]) -> list[dict[str, Any]]:
    """One row per event, in words: the person's name, the label, what the event was about."""
    names = user_names([event.actor_id for event in events if event.actor_id])
    told: dict[int, str] = {}  # details other apps put in words (a review's assignee and outcome, ...)
    for answer in extensions.ask(extensions.ACCESS_REPORT_DETAILS, events=events):
        told.update(answer)
    titles = object_titles((event.object_type, event.object_id) for event in events)
    return [
        {
            "event": event,
            "who": _who(event, names),
            "what": action_label(event.action),
            "about": titles.get((event.object_type, event.object_id), ""),
            "outcome": _OUTCOMES.get(event.outcome, event.outcome),
            "details": told.get(event.pk) or _details(event),
        }
        for event in events
    ]


_OUTCOMES = {"success": "Allowed", "denied": "Refused", "error": "Failed"}


def _who(event: AuditEvent, names: dict[int, str]) -> str:
    if event.actor_id:
        return names.get(event.actor_id, event.actor_username)
    return event.actor_username or "(system)"


def _details(event: AuditEvent) -> str:
    details = event.details or {}
    if event.action == Action.PATIENT_BREAK_GLASS:
        return f"Reason: “{details.get('reason', '')}”"
    if event.action == Action.PATIENT_UPDATED:
        return "Changed: " + ", ".join(sorted(details.get("changes", {})))
    if event.outcome == "denied" and details.get("reason"):
        return f"Refused: {denial_reason(details).replace('_', ' ')}"
    if details.get("channel"):
        return f"via {details['channel']}"
    return ""


def access_report_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        when = timezone.localtime(row["event"].occurred_at).strftime("%Y-%m-%d %H:%M:%S")
        cells = [when, row["who"], row["what"], row["about"], row["outcome"], row["details"]]
        writer.writerow([_safe_cell(cell) for cell in cells])
    return buffer.getvalue()


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value
