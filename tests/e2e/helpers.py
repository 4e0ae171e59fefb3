"""What every browser test does first: sign in as a person would."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories


def sign_in(page, live_server, user) -> None:
    """Password, then the TOTP code from the user's authenticator (computed from the device here)."""
    page.goto(f"{live_server.url}/accounts/sign-in/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code from your authenticator app").fill(
        factories.current_totp_code(factories.totp_device(user))
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Patients", exact=False).first).to_be_visible()
