"""Small helpers for audit assertions."""

from __future__ import annotations

from apps.audit.models import AuditEvent


def events(action: str | None = None, **filters) -> list[AuditEvent]:
    queryset = AuditEvent.objects.all()
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.filter(**filters).order_by("chain", "sequence"))


def only_event(action: str, **filters) -> AuditEvent:
    found = events(action, **filters)
    assert len(found) == 1, f"expected exactly one {action} event, found {len(found)}: {found}"
    return found[0]
