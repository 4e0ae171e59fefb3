"""Command-line options about accounts, for operator commands (quill/commands.py stays free of apps)."""

from __future__ import annotations

import uuid

from apps.accounts.models import Organisation
from quill.commands import Unable


def organisation_id_option(value: str | None) -> str | None:
    """Check an --organisation value: a UUID of an existing organisation (exit 2 otherwise)."""
    if not value:
        return None
    try:
        organisation_id = str(uuid.UUID(value))
    except ValueError:
        raise Unable(f"--organisation must be an organisation id (UUID), not {value!r}.") from None
    if not Organisation.objects.filter(pk=organisation_id).exists():
        raise Unable(f"No organisation has id {organisation_id}.")
    return organisation_id
