"""The Django admin in Debian's Chromium: it asks for the TOTP code before anything, refuses roles
without it, and its index, lists and forms pass axe-core and fit a 390 px screen (PageChecks)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.services import api_token_create
from apps.patients.services import patient_break_glass
from tests import factories
from tests.e2e.helpers import PageChecks, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    """A fast password hasher (argon2 costs ~1 s per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic():
    organisation = factories.make_organisation("Riverside Clinic")
    administrator = factories.make_user(organisation, ["administrator"], totp=True, full_name="Morgan Telford")
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Rowan Ashby")
    restricted = factories.make_patient(organisation, given_name="Robin", family_name="Quiet", restricted=True)
    grant = patient_break_glass(actor=clinician, patient=restricted, reason="Seen in the emergency department")
    token, _ = api_token_create(user=clinician, name="Lab feed")
    return {"organisation": organisation, "administrator": administrator, "clinician": clinician, "grant": grant,
            "token": token}  # fmt: skip


def _admin_pages(clinic) -> dict[str, str]:
    organisation, clinician = clinic["organisation"], clinic["clinician"]
    return {
        "users": "/admin/accounts/user/",
        "user": f"/admin/accounts/user/{clinician.pk}/change/",
        "user-add": "/admin/accounts/user/add/",
        "organisations": "/admin/accounts/organisation/",
        "organisation": f"/admin/accounts/organisation/{organisation.pk}/change/",
        "api-tokens": "/admin/accounts/apitoken/",
        "api-token": f"/admin/accounts/apitoken/{clinic['token'].pk}/change/",
        "audit-events": "/admin/audit/auditevent/",
        "break-glass": "/admin/patients/breakglassaccess/",
        "break-glass-one": f"/admin/patients/breakglassaccess/{clinic['grant'].pk}/change/",
        "outbox": "/admin/outbox/outboxmessage/",
    }


def test_the_admin_asks_for_the_code_first(live_server, page, clinic):
    administrator = clinic["administrator"]
    checks = PageChecks(page)
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/\?next=%2Fadmin%2F$"))

    # the password alone is not enough: the code page comes next, and then the admin
    page.get_by_label("Email address").fill(administrator.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    checks("admin-code")
    page.goto(f"{live_server.url}/admin/accounts/user/")
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    page.get_by_label("6-digit code from your authenticator app").fill(
        factories.current_totp_code(factories.totp_device(administrator))
    )
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/admin/accounts/user/$"))
    expect(page.get_by_role("navigation", name="Breadcrumbs")).to_contain_text("Users")
    checks.assert_none()


def test_a_clinician_is_told_the_admin_is_not_for_their_role(live_server, page, clinic):
    sign_in(page, live_server, clinic["clinician"])
    checks = PageChecks(page)
    response = page.goto(f"{live_server.url}/admin/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("The administration pages are for administrators and owners")
    checks("admin-refused")
    checks.assert_none()


def test_every_admin_page_an_administrator_uses_passes_axe_and_fits_a_phone(live_server, page, clinic):
    sign_in(page, live_server, clinic["administrator"])
    checks = PageChecks(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    checks("admin-index")
    for name, path in _admin_pages(clinic).items():
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        checks(f"admin-{name}")
    checks.assert_none()
