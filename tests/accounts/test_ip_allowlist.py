"""Per-organisation IP allowlist on the portal (sessions) and the API (tokens and sessions)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.models import AuditEvent, Outcome
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

MESSAGE = "Your network address is not on this organisation's allowlist. Ask your administrator."
ALLOWED_ADDRESS = "192.0.2.10"
OUTSIDE_ADDRESS = "198.51.100.7"


@pytest.fixture
def allowlisted(organisation):
    organisation.ip_allowlist = ["192.0.2.0/24", "2001:db8::/32"]
    organisation.save()
    return organisation


def _denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.denied"))


@pytest.mark.parametrize("address", [ALLOWED_ADDRESS, "2001:db8::5"], ids=["ipv4", "ipv6"])
def test_portal_allows_listed_address(allowlisted, clinician, address):
    client = factories.signed_in_client(clinician, Client(REMOTE_ADDR=address))
    assert client.get("/quill-test/page/").status_code == 200
    assert _denials() == []


def test_portal_refuses_unlisted_address_and_audits(allowlisted, clinician):
    # given a signed-in clinician on a network outside the allowlist
    client = factories.signed_in_client(clinician, Client(REMOTE_ADDR=OUTSIDE_ADDRESS))
    # when they open a page
    response = client.get("/quill-test/page/")
    # then they get 403 with the message, and it is audited
    assert response.status_code == 403
    assert MESSAGE in response.content.decode().replace("&#x27;", "'")
    [denial] = _denials()
    assert denial.outcome == Outcome.DENIED
    assert denial.actor_id == clinician.pk
    assert denial.ip == OUTSIDE_ADDRESS
    assert denial.details["reason"] == "ip_not_allowed"


def test_empty_allowlist_allows_every_address(organisation, clinician):
    client = factories.signed_in_client(clinician, Client(REMOTE_ADDR=OUTSIDE_ADDRESS))
    assert client.get("/quill-test/page/").status_code == 200


def test_api_token_from_unlisted_address_is_refused_and_audited(allowlisted, clinician):
    # given a token used from outside the allowlist
    client = factories.token_client(clinician)
    # when it calls the API
    response = client.get("/api/quill-test/whoami/", REMOTE_ADDR=OUTSIDE_ADDRESS)
    # then it gets 403 with the error shape, and it is audited
    assert response.status_code == 403
    assert response.json() == {"detail": {"message": MESSAGE, "error_code": "ip_not_allowed"}}
    [denial] = _denials()
    assert denial.object_type == "api_token"
    assert denial.ip == OUTSIDE_ADDRESS


def test_api_token_from_listed_address_is_accepted(allowlisted, clinician):
    client = factories.token_client(clinician)
    assert client.get("/api/quill-test/whoami/", REMOTE_ADDR=ALLOWED_ADDRESS).status_code == 200


def test_api_session_from_unlisted_address_is_refused(allowlisted, clinician):
    client = factories.signed_in_client(clinician, Client(REMOTE_ADDR=OUTSIDE_ADDRESS))
    response = client.get("/api/quill-test/whoami/")
    assert response.status_code == 403
    assert response.json() == {"detail": {"message": MESSAGE, "error_code": "ip_not_allowed"}}


def test_health_probes_are_not_behind_the_allowlist(allowlisted, clinician):
    client = factories.signed_in_client(clinician, Client(REMOTE_ADDR=OUTSIDE_ADDRESS))
    assert client.get("/healthz").status_code == 200
