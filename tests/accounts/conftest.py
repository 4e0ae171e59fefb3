"""Fixtures for the accounts tests (shared ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def administrator_without_totp(organisation):
    """An administrator who has not enrolled a TOTP device yet."""
    return factories.make_user(organisation, ["administrator"])


@pytest.fixture
def superuser(db):
    return factories.make_user(None, [], is_superuser=True, is_staff=True, totp=True)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return factories.signed_in_client(superuser)


@pytest.fixture
def administrator_client(administrator) -> Client:
    return factories.signed_in_client(administrator)
