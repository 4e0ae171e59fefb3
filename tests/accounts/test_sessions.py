"""Sessions: sign out, and "sign out everywhere" ending every other browser's session at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from apps.accounts.middleware import REFRESHED_AT
from tests import factories
from tests.accounts.helpers import actions, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

PAGE = "/quill-test/page/"


def test_sign_out_everywhere_ends_another_browsers_session(clinician):
    # given the same user signed in on two browsers
    laptop, phone = Client(), Client()
    assert sign_in(laptop, clinician.email).status_code == 302
    assert sign_in(phone, clinician.email).status_code == 302
    assert phone.get(PAGE).status_code == 200
    # when one of them signs out everywhere
    response = laptop.post("/accounts/sign-out-everywhere/")
    assert response.status_code == 302
    # then the other browser's next request is anonymous
    response = phone.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in/")
    assert "_auth_user_id" not in phone.session
    # and so is the first browser's, and the event is audited
    assert laptop.get(PAGE).status_code == 302
    assert "auth.sign_out_everywhere" in actions(actor_id=clinician.pk)
    # and signing in again works
    assert sign_in(phone, clinician.email).status_code == 302
    assert phone.get(PAGE).status_code == 200


def test_sign_out_ends_only_this_session(clinician):
    laptop, phone = Client(), Client()
    sign_in(laptop, clinician.email)
    sign_in(phone, clinician.email)
    laptop.post("/accounts/sign-out/")
    assert laptop.get(PAGE).status_code == 302
    assert phone.get(PAGE).status_code == 200
    assert "auth.logout" in actions(actor_id=clinician.pk)


@pytest.mark.parametrize("path", ["/accounts/sign-out/", "/accounts/sign-out-everywhere/"], ids=["out", "everywhere"])
def test_sign_out_refuses_get(clinician, path):
    client = Client()
    sign_in(client, clinician.email)
    assert client.get(path).status_code == 405
    assert client.get(PAGE).status_code == 200


def test_sign_out_needs_csrf_token(clinician):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    assert client.post("/accounts/sign-out-everywhere/").status_code == 403
    assert client.get(PAGE).status_code == 200


def test_session_settings_are_server_side_with_idle_timeout():
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is False  # SlidingSessionMiddleware slides it
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_successful_sign_in_is_audited(clinician):
    sign_in(Client(), clinician.email)
    assert actions(actor_id=clinician.pk) == ["auth.login.succeeded"]


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x"], ids=["absolute-foreign", "scheme-relative"]
)
def test_sign_in_ignores_foreign_next(clinician, next_url):
    response = Client().post(
        "/accounts/sign-in/",
        {"username": clinician.email, "password": factories.PASSWORD, "next": next_url},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


@pytest.mark.parametrize("path", ["/accounts/sign-out/", "/accounts/sign-out-everywhere/"], ids=["out", "everywhere"])
def test_sign_out_empties_the_browsers_cache_of_page_images(clinician, path):
    client = Client()
    sign_in(client, clinician.email)
    assert client.post(path)["Clear-Site-Data"] == '"cache"'


def _expiry(client: Client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def test_a_request_within_the_refresh_interval_does_not_write_the_session(clinician):
    client = Client()
    sign_in(client, clinician.email)
    assert client.get(PAGE).status_code == 200
    before = _expiry(client)
    # when the next requests come within QUILL_SESSION_REFRESH_SECONDS
    for _ in range(3):
        assert client.get(PAGE).status_code == 200
    # then the session row is untouched: no UPDATE and no commit per request
    assert _expiry(client) == before


def test_the_idle_timeout_slides_once_the_refresh_interval_has_passed(clinician):
    client = Client()
    sign_in(client, clinician.email)
    assert client.get(PAGE).status_code == 200
    # given a session last refreshed longer ago than the interval
    session = client.session
    session[REFRESHED_AT] = session[REFRESHED_AT] - settings.QUILL_SESSION_REFRESH_SECONDS
    session.save()
    Session.objects.filter(session_key=session.session_key).update(
        expire_date=_expiry(client) - timedelta(seconds=settings.QUILL_SESSION_REFRESH_SECONDS)
    )
    before = _expiry(client)
    # when the user makes a request
    assert client.get(PAGE).status_code == 200
    # then the expiry moves forward to a full idle timeout from now
    after = _expiry(client)
    assert after > before
    assert abs((after - timezone.now()).total_seconds() - settings.QUILL_SESSION_IDLE_SECONDS) < 30


def test_an_idle_session_ends(clinician):
    client = Client()
    sign_in(client, clinician.email)
    assert client.get(PAGE).status_code == 200
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in/")
