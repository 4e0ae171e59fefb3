"""Sessions: sign out, and "sign out everywhere" ending every other browser's session at once."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

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
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
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
