"""The installation's security log: what only the operators of a Quill installation may see.

An organisation's own audit chain must not tell its administrators whether an id they were
refused exists in another organisation (that would let them probe other clinics' records), so
the chain records such a refusal exactly as it records an id that exists nowhere. The
difference goes here instead: one structured line on the logger ``quill.security`` (a JSON
object per line in production, docs/security.md), which the installation's operators ship
and watch like any other security log. Organisations never read it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

logger = logging.getLogger("quill.security")


def security_log_cross_organisation(
    *, actor: Any, object_type: str, object_id: Any, owner_organisation_id: uuid.UUID | str | None, attempted: str
) -> None:
    """A user asked for an object of another organisation (answered 404, audited as ``not_found``)."""
    logger.warning(
        "cross-organisation access refused",
        extra={
            "security_event": "cross_organisation_access",
            "actor_id": getattr(actor, "pk", None),
            "actor_organisation_id": str(getattr(actor, "organisation_id", "") or ""),
            "object_type": object_type,
            "object_id": str(object_id)[:64],
            "owner_organisation_id": str(owner_organisation_id or ""),
            "attempted": attempted,
        },
    )
