"""What higher apps redo when a patient's facts change: a registry, filled from their AppConfig.ready().

Patients sits below documents (docs/architecture.md, "Layering"), so it cannot call
documents' services; documents registers what it must redo instead (as apps register
outbox handlers in `apps/outbox/handlers.py`). The service that made the change calls
:func:`birth_date_changed` itself, inside its transaction, so the work commits or rolls
back with the change and the caller sees it done on return. Not a signal: one explicit
call, from one service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

BirthDateHook = Callable[..., object]  # called as hook(patient_id=...)
_ON_BIRTH_DATE_CHANGED: dict[str, BirthDateHook] = {}


def on_birth_date_changed(name: str, hook: BirthDateHook) -> None:
    """Register `hook(patient_id=...)` under `name` (registering a name again replaces it)."""
    _ON_BIRTH_DATE_CHANGED[name] = hook


def birth_date_changed(*, patient_id: uuid.UUID) -> None:
    """Run every registered hook for a patient whose birth date has just changed (inside the change's transaction)."""
    for hook in _ON_BIRTH_DATE_CHANGED.values():
        hook(patient_id=patient_id)
