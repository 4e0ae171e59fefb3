"""Organisation names for the audit reports, looked up by app label.

Audit is the ground layer: every app imports it, so it imports none of them
(docs/architecture.md, "Layering"). A chain is keyed by its organisation's id;
only the operator reports (`verify_audit`, `audit_head`) want the name beside it,
so they read it through the app registry instead of importing `apps.accounts`.
"""

from __future__ import annotations

import uuid

from django.apps import apps
from django.db import models


def _organisations() -> type[models.Model]:
    return apps.get_model("accounts", "Organisation")


def organisation_names() -> dict[uuid.UUID, str]:
    """Every organisation's name by id."""
    return dict(_organisations()._default_manager.values_list("pk", "name"))


def organisation_exists(organisation_id: str) -> bool:
    return _organisations()._default_manager.filter(pk=organisation_id).exists()
