"""Liveness and readiness probes, and the request id on every response."""

from __future__ import annotations

import pytest
from django.test import Client

from quill import checks

pytestmark = pytest.mark.django_db


def test_healthz_is_json_and_needs_no_sign_in():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_database(monkeypatch):
    monkeypatch.setattr(checks, "CHECKS", {"database": checks.check_database})
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["detail"] == "postgresql"


def test_readyz_is_503_when_a_check_fails(monkeypatch):
    def broken() -> str:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(checks, "CHECKS", {"database": checks.check_database, "broken": broken})
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broken"] == {"ok": False, "detail": "ConnectionError: connection refused", "seconds": 0.0}
    assert body["checks"]["database"]["ok"] is True


def test_readyz_skips_unconfigured_checks(monkeypatch):
    monkeypatch.setattr(checks, "CHECKS", {"database": checks.check_database, "fhir": lambda: None})
    assert set(Client().get("/readyz").json()["checks"]) == {"database"}


@pytest.mark.parametrize("path", ["/healthz", "/accounts/sign-in/", "/api/", "/no-such-page/"])
def test_every_response_has_a_request_id(path):
    response = Client().get(path)
    assert len(response["X-Request-ID"]) == 32


def test_well_formed_incoming_request_id_is_echoed():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.2024_01")
    assert response["X-Request-ID"] == "lb-7f3a.2024_01"


@pytest.mark.parametrize(
    "incoming",
    ["has spaces", "x" * 65, "semi;colon", "<script>", "", "req-1\n", "req-1\nforged: line", "req\x00", "réq"],
    ids=["spaces", "too-long", "semicolon", "markup", "empty", "trailing-newline", "newline", "nul", "non-ascii"],
)
def test_malformed_incoming_request_id_is_replaced(incoming):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_request_id_with_a_trailing_newline_never_reaches_an_audit_event(clinician):
    from apps.audit.models import AuditEvent

    Client().post(
        "/accounts/sign-in/",
        {"username": clinician.email, "password": "wrong-password-entirely"},
        HTTP_X_REQUEST_ID="req-audit-1\n",
    )
    recorded = AuditEvent.objects.get(action="auth.login.failed").request_id
    assert "\n" not in recorded
    assert len(recorded) == 32


def test_request_id_is_recorded_on_audit_events(clinician):
    from apps.audit.models import AuditEvent
    from tests import factories

    Client().post(
        "/accounts/sign-in/",
        {"username": clinician.email, "password": "wrong-password-entirely"},
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert AuditEvent.objects.get(action="auth.login.failed").request_id == "req-audit-1"
    assert factories.PASSWORD != "wrong-password-entirely"


def test_the_favicon_is_served_for_pages_that_do_not_name_one(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
