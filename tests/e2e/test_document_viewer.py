"""The document viewer in Debian's Chromium: the page first, zoom, rotation, thumbnails, keyboard
shortcuts, every annotation tool (also while zoomed and turned), and undoing a delete.

Documents are stored through the upload service and marked clean (no scan worker needed).
Screenshots at 1280×800 and 390×844 go to artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.audit.actions import Action
from apps.audit.models import AuditEvent, Outcome
from apps.documents.models import Annotation
from tests import factories
from tests.documents import samples
from tests.documents.helpers import append_events, stored_document
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

A4_WIDTH_AT_100 = 595.28 * 96 / 72  # CSS px: 100 % is the page's real size


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic():
    organisation = factories.make_organisation("Riverside Clinic")
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Ada Lovelace")
    patient = factories.make_patient(organisation, given_name="Ellis", family_name="Marwood")
    document = stored_document(
        user=clinician, patient=patient, data=samples.pdf(3, title="Discharge summary"), title="Discharge summary"
    )
    return {"clinician": clinician, "patient": patient, "document": document}


def _open(page, live_server, document) -> None:
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    page.wait_for_function(
        "() => { const i = document.querySelector('img.preview-image'); return i && i.complete && i.naturalWidth > 0; }"
    )


def _box(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def _page_box(page) -> dict:
    return _box(page, "[data-page-frame]")


def _click_page(page, u: float, v: float) -> None:
    """Click at (u, v) of the page as it is on screen (fractions of its box, whatever its rotation)."""
    box = _page_box(page)
    page.mouse.click(box["x"] + u * box["width"], box["y"] + v * box["height"])


def _latest_annotation() -> Annotation:
    return Annotation.objects.order_by("-created_at").first()


def test_the_page_shows_first_and_every_control_works(live_server, page, clinic, screenshot):
    document = clinic["document"]
    sign_in(page, live_server, clinic["clinician"])
    page_urls: list[str] = []
    page.on("request", lambda r: page_urls.append(r.url) if "/pages/" in r.url else None)
    _open(page, live_server, document)

    # at 1280×800 the page image starts well inside the window, not under the forms
    image = _box(page, "img.preview-image")
    assert 0 < image["y"] < 800 - 300, image
    screenshot("desktop-first-view", full_page=False)

    # three pages: the count, the thumbnails, Previous disabled on the first
    expect(page.locator("[data-page-count]")).to_have_text("3")
    expect(page.locator("[data-thumbs] button")).to_have_count(3)
    prev, nxt = page.get_by_role("button", name="Previous page"), page.get_by_role("button", name="Next page")
    expect(prev).to_be_disabled()
    expect(nxt).to_be_enabled()

    # zoom: fit width fills the viewport's width; + and − step; 200 % is twice the real size; fit page fits
    viewport = page.locator("[data-viewport]")
    inner = viewport.evaluate("v => v.clientWidth - parseFloat(getComputedStyle(v).paddingLeft) * 2")
    assert abs(_page_box(page)["width"] - inner) < 2
    fitted = _page_box(page)["width"]
    page.get_by_role("button", name="Zoom in").click()
    zoomed_in = _page_box(page)["width"]
    assert zoomed_in > fitted
    expect(page.locator("#zoom-level")).to_have_value(re.compile(r"^\d+$"))
    page.get_by_role("button", name="Zoom out").click()
    assert _page_box(page)["width"] < zoomed_in
    page.locator("#zoom-level").select_option("200")
    assert abs(_page_box(page)["width"] - 2 * A4_WIDTH_AT_100) < 2
    page.wait_for_function("() => !document.querySelector('img.preview-image').src.endsWith('standard.webp')")
    assert any(url.endswith("/pages/1/large.webp") for url in page_urls), page_urls  # sharp at 200 %
    page.locator("#zoom-level").select_option("400")
    expect(page.get_by_role("button", name="Zoom in")).to_be_disabled()
    page.locator("#zoom-level").select_option("50")
    expect(page.get_by_role("button", name="Zoom out")).to_be_disabled()
    page.locator("#zoom-level").select_option("page")
    frame, room = _page_box(page), viewport.bounding_box()
    assert frame["height"] <= room["height"] and frame["width"] <= room["width"]
    page.locator("#zoom-level").select_option("width")

    # rotate: the page turns a quarter, its box turns with it, and a click still lands where it points
    before = _page_box(page)
    page.get_by_role("button", name=re.compile("^Rotate")).click()
    turned = _page_box(page)
    assert turned["width"] > turned["height"] and before["height"] > before["width"]
    expect(page.locator("[data-annotator]")).to_have_attribute("style", re.compile(r"rotate\(90deg\)"))
    _click_page(page, 0.25, 0.75)  # turned clockwise: that is x 0.75, y 0.75 on the page
    expect(page.locator("[data-annotation-list] li[data-annotation-id]")).to_have_count(1)
    marker = _latest_annotation()
    assert (marker.kind, marker.page) == ("marker", 1)
    assert marker.geometry["x"] == pytest.approx(0.75, abs=0.01)
    assert marker.geometry["y"] == pytest.approx(0.75, abs=0.01)
    screenshot("desktop-rotated", full_page=False)
    for _ in range(3):
        page.keyboard.press("r")  # focus is in the viewer (the page was clicked): R turns it
    expect(page.locator("[data-annotator]")).to_have_attribute("style", re.compile(r"rotate\(0deg\)"))
    circle, upright = _box(page, "[data-overlay] g.annotation-marker circle"), _page_box(page)
    assert circle["x"] + circle["width"] / 2 == pytest.approx(upright["x"] + 0.75 * upright["width"], abs=3)
    assert circle["y"] + circle["height"] / 2 == pytest.approx(upright["y"] + 0.75 * upright["height"], abs=3)

    # thumbnails: the third page, then Next is disabled on the last
    page.locator("[data-thumbs] button", has_text="Page 3").click()
    expect(page.locator("[data-page-number]")).to_have_value("3")
    expect(page.locator("[data-thumbs] button[aria-current=page]")).to_have_text("Page 3")
    expect(nxt).to_be_disabled()
    expect(prev).to_be_enabled()
    expect(page.locator("[data-overlay] g.annotation")).to_have_count(0)  # the marker is on page 1

    # keyboard: P and N page through while the viewer has focus; + zooms in
    page.locator("[data-overlay]").focus()
    page.keyboard.press("p")
    expect(page.locator("[data-page-number]")).to_have_value("2")
    page.keyboard.press("p")
    expect(page.locator("[data-page-number]")).to_have_value("1")
    expect(prev).to_be_disabled()
    page.keyboard.press("n")
    expect(page.locator("[data-page-number]")).to_have_value("2")
    page.keyboard.press("+")
    expect(page.locator("#zoom-level")).to_have_value(re.compile(r"^\d+$"))
    page.keyboard.press("w")
    expect(page.locator("#zoom-level")).to_have_value("width")
    page.get_by_text("Keyboard shortcuts").click()
    expect(page.locator(".shortcut-list")).to_contain_text("Next page")
    screenshot("desktop-page-2-shortcuts")


def test_every_annotation_tool_and_undoing_a_delete(live_server, page, clinic, screenshot):
    document = clinic["document"]
    sign_in(page, live_server, clinic["clinician"])
    _open(page, live_server, document)
    overlay = page.locator("[data-overlay]")
    items = page.locator("[data-annotation-list] li[data-annotation-id]")

    # zoomed to 150 %: a marker still lands where it is clicked
    page.locator("#zoom-level").select_option("150")
    page.locator("[data-viewport]").evaluate("v => v.scrollTo(0, 0)")
    _click_page(page, 0.2, 0.1)
    expect(items).to_have_count(1)
    assert _latest_annotation().geometry == pytest.approx({"x": 0.2, "y": 0.1}, abs=0.01)
    page.locator("#zoom-level").select_option("width")

    # the tool bar stays in view while the window scrolls past the top of the viewer
    page.evaluate("window.scrollTo(0, document.querySelector('[data-viewport]').getBoundingClientRect().top + 200)")
    toolbar = _box(page, "[data-viewer-toolbar]")
    assert -1 <= toolbar["y"] <= 1, toolbar

    # from here the viewer fills the window: tool bar at the top, the whole page below it
    page.evaluate(
        "window.scrollTo(0, window.scrollY + document.querySelector('[data-viewer]').getBoundingClientRect().top)"
    )
    page.locator("#zoom-level").select_option("page")
    frame = _page_box(page)
    assert frame["y"] >= _box(page, "[data-viewer-toolbar]")["height"] and frame["y"] + frame["height"] <= 800

    # a long text note wraps inside the page
    page.get_by_label("Text note").check()
    note = "Check healing in two weeks; if the wound edges are red or warm, start antibiotics and review."
    page.get_by_label("Note text").fill(note)
    _click_page(page, 0.6, 0.3)
    expect(page.locator("[data-annotation-list]")).to_contain_text("Check healing in two weeks")
    text_box, page_box = _box(page, "[data-overlay] .note"), _page_box(page)
    assert text_box["x"] + text_box["width"] <= page_box["x"] + page_box["width"] + 1
    lines = page.evaluate(
        """() => { const range = document.createRange();
                   range.selectNodeContents(document.querySelector('[data-overlay] .note'));
                   return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; }"""
    )
    assert lines >= 2, "the note wraps"
    assert text_box["width"] < page_box["width"] * 0.45

    # highlight and freehand drawing: drag
    for tool, path in (
        ("Highlight", [(0.1, 0.5), (0.4, 0.6)]),
        ("Freehand drawing", [(0.1, 0.7), (0.2, 0.75), (0.3, 0.7)]),
    ):
        page.get_by_label(tool).check()
        box = _page_box(page)
        page.mouse.move(box["x"] + path[0][0] * box["width"], box["y"] + path[0][1] * box["height"])
        page.mouse.down()
        for u, v in path[1:]:
            page.mouse.move(box["x"] + u * box["width"], box["y"] + v * box["height"], steps=5)
        page.mouse.up()
    expect(overlay.locator("g.annotation-highlight")).to_have_count(1)
    expect(overlay.locator("g.annotation-drawing")).to_have_count(1)

    # the keyboard: Tab to the page, move the cross, Enter; the cross hides when the mouse moves
    page.get_by_label("Marker").check()
    page.get_by_label("Marker").focus()
    for _ in range(12):
        if overlay.evaluate("o => document.activeElement === o"):
            break
        page.keyboard.press("Tab")
    expect(overlay.locator("g.cursor")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(items).to_have_count(5)
    assert _latest_annotation().geometry == pytest.approx({"x": 0.52, "y": 0.52}, abs=0.001)
    box = _page_box(page)
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.move(box["x"] + 30, box["y"] + 30)
    expect(overlay.locator("g.cursor")).to_have_count(0)
    screenshot("desktop-annotated", full_page=False)

    # deleting waits for Undo: undone, nothing reaches the server
    first = items.first
    first_id = first.get_attribute("data-annotation-id")
    first.get_by_role("button", name="Delete this annotation").click()
    expect(first.get_by_text("Marker on page 1 deleted —")).to_be_visible()
    expect(overlay.locator("g.annotation")).to_have_count(4)
    screenshot("desktop-undo-notice", full_page=False)
    first.get_by_role("button", name="Undo deleting this annotation").click()
    expect(overlay.locator("g.annotation")).to_have_count(5)
    page.wait_for_timeout(9_000)  # past the undo window: still there
    assert Annotation.objects.filter(pk=first_id).exists()
    assert not AuditEvent.objects.filter(action="annotation.deleted").exists()

    # …and not undone, it is deleted once the notice has gone, and audited once
    first.get_by_role("button", name="Delete this annotation").click()
    expect(items).to_have_count(4, timeout=15_000)
    assert not Annotation.objects.filter(pk=first_id).exists()
    assert AuditEvent.objects.filter(action="annotation.deleted", object_id=first_id).count() == 1

    # a delete still waiting when the page is left is sent on the way out
    second_id = items.first.get_attribute("data-annotation-id")
    items.first.get_by_role("button", name="Delete this annotation").click()
    page.goto(f"{live_server.url}/patients/{clinic['patient'].pk}/")
    page.wait_for_timeout(1_000)
    assert not Annotation.objects.filter(pk=second_id).exists()


def test_on_a_phone_the_page_comes_first(live_server, page, clinic, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, clinic["clinician"])
    _open(page, live_server, clinic["document"])
    assert page.evaluate("window.scrollY") == 0  # nothing scrolled the window (the thumbnail strip scrolls itself)
    image, details = _box(page, "img.preview-image"), _box(page, "#facts-heading")
    assert image["y"] < details["y"]  # the page before the facts
    assert image["x"] >= 0 and image["x"] + image["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("phone-first-view", full_page=False)
    screenshot("phone-full")


def test_on_a_2x_screen_200_percent_loads_the_largest_rendition(live_server, browser, clinic):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=2, locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, live_server, clinic["clinician"])
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url) if "/pages/" in r.url else None)
        _open(page, live_server, clinic["document"])
        assert any(url.endswith("/pages/1/large.webp") for url in requested), requested  # fit width, 2x
        page.locator("#zoom-level").select_option("200")
        page.wait_for_function("() => document.querySelector('img.preview-image').naturalWidth === 3200")
    finally:
        context.close()


def test_a_long_activity_is_collapsed_and_paged(live_server, page, clinic, screenshot):
    document, clinician = clinic["document"], clinic["clinician"]
    readers = [
        factories.make_user(document.organisation, ["clinician"], full_name=f"Dr Reader {n}") for n in range(1, 4)
    ]
    # 24 runs of 50 page previews, by turns: 1,200 events, 25 rows with the upload.
    append_events(
        document,
        [(Action.DOCUMENT_PREVIEWED, readers[turn % 3], Outcome.SUCCESS) for turn in range(24) for _ in range(50)],
    )
    checks = PageChecks(page)
    sign_in(page, live_server, clinician)
    _open(page, live_server, document)

    activity = page.locator("table.events")
    activity.scroll_into_view_if_needed()
    expect(activity.locator("tbody tr")).to_have_count(20)
    expect(activity.locator("tbody tr").nth(0)).to_contain_text("Viewed a page preview (50 times)")
    expect(activity.locator("tbody tr").nth(0)).to_contain_text("Dr Reader 3")
    screenshot("activity-newest", full_page=True)
    checks("document-activity")

    page.get_by_role("navigation", name="Activity pages").get_by_role("link", name="Older").click()
    expect(page.get_by_role("link", name="Newest")).to_be_visible()
    expect(activity.locator("tbody tr")).to_have_count(5)  # the four oldest runs and the upload
    expect(activity.locator("tbody tr").last).to_contain_text("Uploaded")
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    checks("document-activity-older")
    page.get_by_role("link", name="Newest").click()
    expect(activity.locator("tbody tr")).to_have_count(20)
    page.wait_for_load_state("networkidle")
    checks.assert_none()
