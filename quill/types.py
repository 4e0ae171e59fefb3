"""Types for requests whose user is known to be signed in.

Django types ``request.user`` as ``User | AnonymousUser``. Every portal view is behind
``login_required`` and every API view behind DRF's ``IsAuthenticated``, so inside them the
user is a ``User``; these aliases say so once instead of a cast in every view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from apps.accounts.models import User

    class AuthenticatedHttpRequest(HttpRequest):
        """A portal request behind ``login_required``."""

        user: User

    class AuthenticatedRequest(Request):
        """A DRF request behind ``IsAuthenticated``."""

        user: User

else:
    AuthenticatedHttpRequest = HttpRequest
    AuthenticatedRequest = Request
