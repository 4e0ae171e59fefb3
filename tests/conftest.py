"""Shared fixtures. Services (S3, clamd, Celery worker, browser) come from tests.services.plugin."""

from __future__ import annotations

import pytest

from tests import factories

pytest_plugins = ["tests.services.plugin", "tests.services.storage"]


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


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture(autouse=True)
def _empty_audit_log_after_transactional_tests(request):
    """Transactional tests end with a TRUNCATE of every table, which the audit trigger refuses
    while events exist; empty the audit table first (triggers off only for that statement)."""
    transactional = _is_transactional(request)
    if transactional:
        # Set up the database fixture first, so that its flush runs after this teardown.
        request.getfixturevalue("transactional_db")
    yield
    if not transactional:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute("TRUNCATE audit_auditevent")
        finally:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
