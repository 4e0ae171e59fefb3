"""Why an access was refused: the `reason` in an `access.denied` event's details.

Most reasons are the refusal's own `error_code` (`not_found`, `restricted_record`, ...). A role
that does not allow the action is `role_required`, whichever app refused it. Events are never
rewritten (the log is append-only and hash-chained), so events recorded before that spelling was
settled keep the one they were written with (`role`, for documents); whoever reads a reason reads
it through `denial_reason`, which takes the old spelling as the current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLE_REQUIRED = "role_required"

# Spellings older events carry -> the reason they mean. Never written by current code.
FORMER_SPELLINGS = {"role": ROLE_REQUIRED}


def denial_reason(details: Mapping[str, Any] | None) -> str:
    """The reason recorded in an event's `details`, in its current spelling ("" if none)."""
    reason = str((details or {}).get("reason") or "")
    return FORMER_SPELLINGS.get(reason, reason)
