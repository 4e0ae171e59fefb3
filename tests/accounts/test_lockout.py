"""Lockout by username and IP together (django-axes), the locked page, unlock by command, audit."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from apps.audit.models import AuditEvent, Outcome
from tests.accounts.helpers import actions, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

LOCKED_TEXT = "Too many failed sign-in attempts"


def _fail(client: Client, email: str, times: int) -> list[int]:
    return [sign_in(client, email, "not-the-password-at-all").status_code for _ in range(times)]


def test_default_limit_is_five_failures():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_failures_below_limit_show_sign_in_again_and_are_audited(clinician):
    # given four failed sign-ins
    client = Client()
    statuses = _fail(client, clinician.email, 4)
    # then each shows the form again, and each is audited as a failed sign-in
    assert statuses == [200, 200, 200, 200]
    assert actions(action__startswith="auth.") == ["auth.login.failed"] * 4
    event = AuditEvent.objects.filter(action="auth.login.failed").last()
    assert event.outcome == Outcome.DENIED
    assert event.actor_username == clinician.email
    assert str(event.organisation_id) == str(clinician.organisation_id)
    # and the right password still works
    assert sign_in(client, clinician.email).status_code == 302


def test_lockout_after_limit_even_with_right_password(clinician):
    # given five failed sign-ins for the same username from the same address
    client = Client()
    statuses = _fail(client, clinician.email, 5)
    # when the right password is tried
    response = sign_in(client, clinician.email)
    # then the fifth failure and the right password both get the locked page
    assert statuses[:4] == [200, 200, 200, 200]
    assert statuses[4] == 429
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session
    # and the lockout is audited
    recorded = actions(action__startswith="auth.")
    assert recorded[:4] == ["auth.login.failed"] * 4
    assert set(recorded[4:]) == {"auth.lockout"}
    assert len(recorded) == 6


def test_lockout_is_per_username_and_address(clinician):
    # given the username locked from one address
    _fail(Client(), clinician.email, 5)
    # when the same user signs in from another address
    response = sign_in(Client(REMOTE_ADDR="192.0.2.44"), clinician.email)
    # then that address is not locked
    assert response.status_code == 302


def test_axes_reset_username_unlocks(clinician):
    # given a locked account
    client = Client()
    _fail(client, clinician.email, 5)
    assert sign_in(client, clinician.email).status_code == 429
    # when an operator runs `manage.py axes_reset_username <email>`
    call_command("axes_reset_username", clinician.email)
    # then the right password signs in again
    response = sign_in(client, clinician.email)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(clinician.pk)


def test_unknown_email_failures_are_audited_on_platform_chain(db):
    sign_in(Client(), "nobody@example.test", "whatever-password-1")
    event = AuditEvent.objects.get(action="auth.login.failed")
    assert event.chain == "platform"
    assert event.actor_username == "nobody@example.test"
    assert event.object_id == ""
