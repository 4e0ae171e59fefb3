"""Debian's Chromium driven by Playwright's sync API, with nothing that reaches the network.

Playwright's Python package ships its own driver; its browser downloads are
not used (never run `playwright install`): we launch /usr/bin/chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

from tests.services import REPO_ROOT, ServiceError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
DEFAULT_CONTEXT_ARGS: dict[str, object] = {
    "viewport": {"width": 1280, "height": 800},
    "locale": "en-GB",
    "timezone_id": "Europe/London",
}


def launch_chromium(playwright: Playwright, *, timeout_ms: float = 30_000) -> Browser:
    """Launch Debian's chromium headless with the flags above."""
    if not Path(CHROMIUM).exists():
        raise ServiceError(f"{CHROMIUM} missing: run scripts/install-test-deps.sh", service="chromium")
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=list(CHROMIUM_ARGS),
        timeout=timeout_ms,
    )


def screenshot_path(name: str) -> Path:
    """Where a screenshot called `name` goes: artifacts/screenshots/<safe name>.png."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "screenshot"
    return SCREENSHOT_DIR / f"{safe}.png"


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of `page` to artifacts/screenshots/ and return its path."""
    path = screenshot_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


# axe-core (Deque), as bundled by the axe-playwright-python wheel; injected into the page under test.
AXE_SCRIPT = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js")
SERIOUS = {"serious", "critical"}
AXE_RUN = """async () => await axe.run(document, {
  resultTypes: ["violations", "incomplete"],
  preload: {assets: ["media"]},
})"""


def axe_problems(page: Page) -> list[str]:
    """axe-core's findings on `page` that fail a page: every violation, and every item it could not
    decide ("needs review") of serious or critical impact. One line each, with the elements.

    axe is run through the DevTools protocol, not added as a `<script>` element: Quill's
    Content-Security-Policy refuses inline scripts, and a test must not cause the violation
    it looks for. For the same reason axe preloads media only, not the CSSOM: to read a
    stylesheet's `@import` (Django's admin/css/forms.css imports widgets.css) it copies the
    imported sheet into a `<style>` element, which the policy refuses, so every admin form
    reported a violation of axe's own making. Only the experimental rule css-orientation-lock,
    which axe does not run by default, reads the CSSOM."""
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    results = page.evaluate(AXE_RUN)
    problems = []
    for kind, items in (("violation", results["violations"]), ("needs review", results["incomplete"])):
        for item in items:
            if kind == "needs review" and item.get("impact") not in SERIOUS:
                continue
            targets = ", ".join(" ".join(node["target"]) for node in item["nodes"][:5])
            problems.append(f"{kind} {item['id']} ({item.get('impact')}): {item['help']} — {targets}{_why(item)}")
    return problems


def _why(item: dict) -> str:
    """axe's own reason for the first element, e.g. why it could not decide a contrast."""
    checks = [check for node in item["nodes"][:1] for key in ("any", "all", "none") for check in node.get(key, [])]
    messages = [check["message"] for check in checks if check.get("message")]
    return f" ({messages[0]})" if messages else ""


# Every page a test opens records Content-Security-Policy violations from its first script on
# (the `page` fixture adds this to the context); `csp_violations(page)` reads them.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile || document.location.pathname}:${event.lineNumber})`
  );
});
"""


def csp_violations(page: Page) -> list[str]:
    """The Content-Security-Policy violations reported in `page`'s main frame and its frames."""
    return [violation for frame in page.frames for violation in frame.evaluate("window.__cspViolations || []")]
