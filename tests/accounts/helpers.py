"""Small helpers for the accounts tests."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import Client

from apps.audit.models import AuditEvent
from tests import factories


def sign_in(client: Client, email: str, password: str = factories.PASSWORD, **extra) -> HttpResponse:
    """Post the portal sign-in form, as a browser would."""
    return client.post("/accounts/sign-in/", {"username": email, "password": password}, **extra)


def actions(**filters) -> list[str]:
    """Audit actions recorded so far (in order), optionally filtered."""
    return list(
        AuditEvent.objects.filter(**filters).order_by("occurred_at", "sequence").values_list("action", flat=True)
    )


def wrong_code(right_code: str) -> str:
    """A six-digit code that is certainly not the right one."""
    return f"{(int(right_code) + 500_000) % 1_000_000:06d}"
