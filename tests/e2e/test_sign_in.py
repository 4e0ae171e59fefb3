"""Signing in, in Debian's Chromium: a new administrator sets up two-step sign-in from the key the page
shows (as an authenticator app would), signs out, and signs in again with a fresh code."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from tests import factories
from tests.e2e.helpers import PageChecks

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STEP = 30  # seconds per code (RFC 6238), as the device and every authenticator app use


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    """A fast password hasher (argon2 costs ~1 s per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _authenticator_code(secret: str) -> tuple[str, int]:
    """What an authenticator app shows now for the key typed from the page, and the 30-second step it belongs to."""
    key = b32decode(secret.replace(" ", ""))
    return f"{totp(key, step=STEP, digits=6):06d}", int(time.time()) // STEP


def _wait_for_step_after(step: int) -> None:
    """Wait until the app shows the code of a later step (at most 30 s), as its text asks a person to."""
    while int(time.time()) // STEP <= step:
        time.sleep(0.2)


def _drawn_inside(svg) -> bool:
    """Whether everything the SVG draws lies within the box it is shown in (nothing cut off)."""
    return svg.evaluate(
        """svg => {
            const box = svg.getBoundingClientRect();
            return [...svg.querySelectorAll('path, rect')].every(shape => {
                const drawn = shape.getBoundingClientRect();
                return drawn.left >= box.left - 0.5 && drawn.top >= box.top - 0.5
                    && drawn.right <= box.right + 0.5 && drawn.bottom <= box.bottom + 0.5;
            });
        }"""
    )


def _password(page, live_server, email: str, password: str = factories.PASSWORD) -> None:
    page.goto(f"{live_server.url}/accounts/sign-in/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_new_administrator_sets_up_a_code_then_signs_out_and_in_with_one(live_server, page):
    organisation = factories.make_organisation()
    administrator = factories.make_user(organisation, ["administrator"], full_name="Ann Admin")
    checks = PageChecks(page)
    code_field = page.get_by_label("6-digit code from your authenticator app")

    # a wrong password says so, and nothing else happens
    _password(page, live_server, administrator.email, "not-the-password")
    expect(page.get_by_role("alert")).to_have_text("That email address and password do not match an active account.")
    checks("sign-in-refused")

    # the right one leads to setting up the code: nothing else in Quill is reachable before it
    _password(page, live_server, administrator.email)
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/set-up-code/$"))
    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    qr_code = page.get_by_role("img", name="TOTP QR code")
    expect(qr_code).to_be_visible()
    assert _drawn_inside(qr_code), "the QR code is cropped by its box, so an app cannot read it"
    checks("totp-enrol")
    page.goto(f"{live_server.url}/patients/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/set-up-code/$"))
    secret = page.get_by_test_id("totp-secret").inner_text()

    # a code that is not the app's is refused with a reason a person can act on
    code, _ = _authenticator_code(secret)
    code_field.fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.locator(".field-error")).to_contain_text("That code is not right.")
    checks("totp-enrol-wrong-code")

    # the app's code sets it up (after the short wait a wrong code earns)
    time.sleep(1.5)
    code, enrolled_step = _authenticator_code(secret)
    code_field.fill(code)
    page.get_by_role("button", name="Confirm and continue").click()
    expect(page.get_by_text("Two-step sign-in is set up.")).to_be_visible()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    assert TOTPDevice.objects.get(user=administrator).confirmed

    # signing out ends the session: the patient list asks for a sign-in again
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{live_server.url}/patients/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/\?next=/patients/$"))

    # signing in again asks for a code; the one just used is refused, and the page says why
    _password(page, live_server, administrator.email)
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    code_field.fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".field-error")).to_contain_text("This code was just used.")
    checks("totp-verify-code-reused")

    # the app's next code lets them in, and the admin is now one link away
    _wait_for_step_after(enrolled_step)
    code_field.fill(_authenticator_code(secret)[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    checks("patients-after-code")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()

    page.goto(f"{live_server.url}/patients/")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    checks("signed-out")
    actions = AuditEvent.objects.filter(actor_id=administrator.pk, action__startswith="auth.").order_by("sequence")
    assert list(actions.values_list("action", flat=True)) == [
        Action.AUTH_LOGIN_SUCCEEDED,
        Action.AUTH_TOTP_FAILED,
        Action.AUTH_TOTP_ENROLLED,
        Action.AUTH_LOGOUT,
        Action.AUTH_LOGIN_SUCCEEDED,
        Action.AUTH_TOTP_FAILED,
        Action.AUTH_TOTP_VERIFIED,
        Action.AUTH_LOGOUT,
    ]
    checks.assert_none()
