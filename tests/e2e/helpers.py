"""What every browser test does: sign in as a person would, and look at each page it reaches."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import factories
from tests.services.browser import axe_problems, csp_violations, save_screenshot


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


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def page_problems(page, name: str) -> list[str]:
    """What is wrong with the page as it stands now (after a click or a form, not a fresh load):
    axe-core's findings at 1280×800 and at 390×844, at 390 px a page wider than the screen, and any
    Content-Security-Policy violation the page reported.
    Screenshots of both widths go to artifacts/screenshots/page-<name>-<desktop|phone>.png."""
    found = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        # From the top, as a page is first seen: axe cannot tell the colours behind what is scrolled away above.
        page.evaluate("window.scrollTo(0, 0)")
        save_screenshot(page, f"page-{name}-{label}")
        found += [f"{name} ({label}): {problem}" for problem in axe_problems(page)]
        if label == "phone":
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                found.append(f"{name} (phone): the page is {width} px wide, so it scrolls sideways")
    page.set_viewport_size(DESKTOP)
    found += [f"{name}: Content-Security-Policy violation: {violation}" for violation in csp_violations(page)]
    return found


class PageChecks:
    """Collects `page_problems` of every page a flow reaches, so one run reports them all;
    `assert_none()` at the end of the test fails with the list."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []

    def __call__(self, name: str) -> None:
        self.problems += page_problems(self.page, name)

    def assert_none(self) -> None:
        assert self.problems == [], "\n".join(self.problems)
