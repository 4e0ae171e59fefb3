"""Roles a user may hold within their organisation (a user may hold several)."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    BILLING = "billing", "Billing"
    ADMINISTRATOR = "administrator", "Administrator"
    OWNER = "owner", "Owner"


CLINICAL_ROLES = frozenset({Role.CLINICIAN, Role.ADMINISTRATOR, Role.OWNER})
MANAGING_ROLES = frozenset({Role.ADMINISTRATOR, Role.OWNER})
TOTP_REQUIRED_ROLES = frozenset({Role.ADMINISTRATOR, Role.OWNER})
