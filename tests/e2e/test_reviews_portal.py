"""Clinical review in Debian's Chromium: assign a document from its page, complete the review from
"My reviews" as the colleague it was assigned to. Every page reached is checked with axe-core and
at 390 px (PageChecks)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.reviews.models import Review, ReviewState
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.e2e.helpers import PageChecks, sign_in
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_assign_a_document_for_review_and_complete_it_from_my_reviews(live_server, page, organisation):
    clinician = factories.make_user(organisation, ["clinician"], totp=True, full_name="Dr Rowan Ashby")
    colleague = factories.make_user(
        organisation, ["clinician"], totp=True, full_name="Dr Sam Whitlock", email="sam@example.test"
    )
    patient = factories.make_patient(
        organisation, given_name="Ellis", family_name="Marwood", date_of_birth=date(1958, 3, 14)
    )
    document = stored_document(
        user=clinician, patient=patient, data=samples.pdf(1, title="INR result"), title="INR result"
    )
    checks = PageChecks(page)
    due = timezone.localdate() + timedelta(days=2)

    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    section = page.locator("#reviews")
    expect(section).to_contain_text("Not assigned for review.")
    section.get_by_label("Review by").select_option(label="Dr Sam Whitlock")
    section.get_by_label("Priority").select_option("urgent")
    section.get_by_label("Due by").fill(due.isoformat())
    section.get_by_label("Note for the reviewer").fill("INR is 4.8: please advise on the dose.")
    section.get_by_role("button", name="Assign for review").click()
    expect(page.locator("[data-review-open]")).to_contain_text("Dr Sam Whitlock")
    expect(page.locator("[data-review-open]")).to_contain_text("Urgent")
    checks("review-document-assigned")
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    expect(page.locator("[data-review-badge]")).to_have_count(1)

    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, live_server, colleague)
    page.get_by_role("link", name="My reviews").click()
    expect(page.get_by_role("heading", name="My reviews")).to_be_visible()
    item = page.locator(f"#review-{Review.objects.get().pk}")
    expect(item).to_contain_text("please advise on the dose")
    item.get_by_text("Complete this review").click()
    item.get_by_label("Action needed", exact=True).check()
    item.get_by_role("button", name="Record outcome").click()
    # Action needed without saying what: explained, nothing recorded.
    expect(page.get_by_text("Say what action is needed.")).to_be_visible()
    assert Review.objects.get().state == ReviewState.OPEN
    checks("my-reviews-error")
    item = page.locator(f"#review-{Review.objects.get().pk}")
    item.get_by_label("What action is needed").fill("Reduce warfarin to 3 mg; repeat INR in one week.")
    item.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_text("Nothing is waiting for your review.")).to_be_visible()
    checks("my-reviews-done")

    review = Review.objects.get()
    assert (review.state, review.outcome, review.completed_by) == ("completed", "action_needed", colleague)
    page.goto(f"{live_server.url}/documents/{document.pk}/")
    expect(page.locator("[data-review-completed]")).to_contain_text("Reduce warfarin to 3 mg")
    checks("review-document-completed")
    checks.assert_none()
