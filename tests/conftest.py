"""Shared fixtures. Services (S3, clamd, Celery worker, browser) come from tests.services.plugin."""

from __future__ import annotations

import pytest

from tests import factories

pytest_plugins = ["tests.services.plugin"]


@pytest.fixture
def organisation(db):
    return factories.make_organisation("Demo Clinic")


@pytest.fixture
def other_organisation(db):
    return factories.make_organisation("Other Clinic")


@pytest.fixture
def clinician(organisation):
    return factories.make_user(organisation, ["clinician"])


@pytest.fixture
def billing_user(organisation):
    return factories.make_user(organisation, ["billing"])


@pytest.fixture
def administrator(organisation):
    return factories.make_user(organisation, ["administrator"], totp=True)


@pytest.fixture
def owner(organisation):
    return factories.make_user(organisation, ["owner"], totp=True)


@pytest.fixture
def other_clinician(other_organisation):
    return factories.make_user(other_organisation, ["clinician"])


@pytest.fixture
def patient(organisation):
    return factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[0])


@pytest.fixture
def other_patient(other_organisation):
    return factories.make_patient(other_organisation, nhs_number=factories.VALID_NHS_NUMBERS[1])
