"""Django admin for organisations, users and API tokens.

Platform superusers see everything. An organisation's administrators and owners
(staff users without superuser) see and change only their own organisation's
rows and can never grant superuser. Every change made here is audited as
`admin.change` in the same transaction as the change (the admin wraps its
views in one); tokens are created and revoked through the account services,
which audit them as `token.created` and `token.revoked`.
"""

from apps.accounts.admin import organisations, tokens, users

__all__ = ["organisations", "tokens", "users"]
