"""The browser enforces Quill's Content-Security-Policy, and the tests' recorder notices every refusal.

tests/e2e/test_every_page.py asserts that no page reports a violation; this shows that a page
breaking the policy would be reported (and that the browser refuses the inline code).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.e2e.helpers import sign_in
from tests.services.browser import axe_problems, csp_violations
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_inline_script_and_style_are_refused_and_recorded(live_server, page, organisation):
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    sign_in(page, live_server, clinician)
    assert csp_violations(page) == []
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true;";
          document.body.append(script);
          document.body.setAttribute("style", "background: red");
          document.body.insertAdjacentHTML("beforeend", '<img src="https://example.com/pixel.png" alt="">');
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 3")
    assert page.evaluate("window.__inlineRan === undefined")  # the inline script never ran
    directives = sorted(violation.split(" ")[0] for violation in csp_violations(page))
    assert directives == ["img-src", "script-src-elem", "style-src-attr"]


def test_the_document_viewer_keeps_to_the_policy(live_server, page, settings, tmp_path, organisation, patient):
    # given a PDF on the document page: page previews drawn from fetched blobs, annotations, the PDF frame
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(2), filename="discharge.pdf")
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    expect(page.locator("img.preview-image")).to_have_js_property("complete", True)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("[data-page-number]")).to_have_value("2")
    page.get_by_text("Read in the browser's PDF viewer").click()
    expect(page.locator(".pdf-viewer iframe")).to_have_attribute("src", re.compile(r"content\?disposition=inline$"))
    page.wait_for_load_state("networkidle")
    # then nothing was refused
    assert csp_violations(page) == []


def test_axe_leaves_the_policy_unbroken_on_a_page_with_an_imported_stylesheet(
    live_server, page, settings, organisation
):
    # given an admin form: Django's admin/css/forms.css pulls in widgets.css with @import
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    administrator = factories.make_user(organisation, ["administrator"], totp=True)
    sign_in(page, live_server, administrator)
    page.goto(f"{live_server.url}/admin/accounts/user/add/")
    imports = page.evaluate(
        """() => Array.from(document.styleSheets).flatMap(sheet => Array.from(sheet.cssRules))
                 .filter(rule => rule instanceof CSSImportRule).map(rule => rule.href)"""
    )
    assert "widgets.css" in imports
    # when the tests' accessibility check runs on it
    axe_problems(page)
    # then the check itself caused no violation (axe copies an imported sheet into a <style> when it preloads the CSSOM)
    assert csp_violations(page) == []
