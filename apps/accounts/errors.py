"""Refusals of sign-in and API authentication.

They are raised as DRF exceptions with a specific code (``apps.accounts.authentication``)
or answered by the IP allowlist middleware, so they have no class of their own.
"""

from __future__ import annotations

CODES_WITHOUT_CLASS: dict[str, int] = {
    "ip_not_allowed": 403,  # the caller's address is outside the organisation's allowlist
    "token_expired": 401,
    "token_revoked": 401,
}
