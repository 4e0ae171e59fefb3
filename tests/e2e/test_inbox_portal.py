"""The inbox in Debian's Chromium: file an emailed letter to the suggested patient, split a scan into
two documents (also for two patients at once), merge two scans and read the result in the document
viewer. Every page reached is checked with axe-core and at 390 px (PageChecks)."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from apps.documents.models import Document
from apps.inbox.models import InboxItem, ItemState, SourceKind
from apps.inbox.services.mail import mail_receive
from apps.inbox.services.preparation import inbox_prepare
from apps.reviews.models import Review
from tests import factories
from tests.e2e.helpers import PageChecks, sign_in
from tests.inbox.helpers import letter_pdf, make_source, receive
from tests.services.storage import filesystem_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.QUILL_SCANNER = "none"


@pytest.fixture
def ellis(organisation):
    return factories.make_patient(
        organisation,
        nhs_number="9434765919",
        given_name="Ellis",
        family_name="Marwood",
        date_of_birth=date(1958, 3, 14),
    )


def _emailed_letter(organisation, *, reviewer=None) -> InboxItem:
    message = EmailMessage()
    message["From"] = "Outpatients <outpatients@hospital.example>"
    message["Subject"] = "Clinic letter"
    message["Date"] = "Mon, 07 Dec 2026 09:30:00 +0000"
    message["Message-ID"] = "<clinic-letter@hospital.example>"
    message.set_content("Please find attached.")
    pdf = letter_pdf(["Cardiology clinic letter", "Ellis Marwood, born 14/03/1958", "NHS number 943 476 5919"])
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="letter.pdf")
    source = make_source(organisation, kind=SourceKind.IMAP, name="NHSmail", default_reviewer=reviewer)
    [received] = mail_receive(source=source, uidvalidity=1, uid=1, raw=message.as_bytes()).items
    inbox_prepare(item_id=received.item.pk)
    return received.item


def test_file_an_emailed_letter_to_the_suggested_patient(live_server, page, organisation, ellis):
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    item = _emailed_letter(organisation, reviewer=clinician)
    checks = PageChecks(page)
    sign_in(page, live_server, clinician)
    page.get_by_role("link", name="Inbox").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_text("NHS number 943 476 5919 on page 1").first).to_be_visible()
    checks("inbox-list")
    page.get_by_role("link", name="Cardiology clinic letter").click()
    expect(page.get_by_text("outpatients@hospital.example")).to_be_visible()
    expect(page.get_by_label("Ellis Marwood", exact=False)).to_be_checked()
    expect(page.get_by_label("Assign for review to")).to_have_value(str(clinician.pk))
    expect(page.locator("[data-viewer] [data-page-count]")).to_have_text("1")  # the viewer has shown its page
    checks("inbox-item")
    page.get_by_label("Category").select_option("letter")
    page.get_by_label("Review priority").select_option("urgent")
    page.get_by_role("button", name="File", exact=True).click()
    expect(page.get_by_text("Filed to")).to_be_visible()
    document = Document.objects.get()
    assert document.patient == ellis and document.title == "Cardiology clinic letter"
    assert InboxItem.objects.get(pk=item.pk).state == ItemState.FILED
    review = Review.objects.get(document=document)
    assert review.assignee == clinician and review.priority == "urgent"
    checks("inbox-after-filing")
    checks.assert_none()


def test_split_a_scan_into_two_documents(live_server, page, organisation, ellis):
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    scan = letter_pdf(["Referral", "NHS 9434765919", "DOB 14/03/1958"], ["Referral page 2"], ["Blood results"])
    item = receive(
        make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path="/srv/scans"), scan
    ).item
    inbox_prepare(item_id=item.pk)
    checks = PageChecks(page)
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/inbox/{item.pk}/")
    page.get_by_text("Split into several documents").click()
    page.get_by_role("group", name="Part 1").get_by_label("Pages").fill("1-2")
    page.get_by_role("group", name="Part 2").get_by_label("Pages").fill("3")
    page.get_by_role("button", name="File", exact=True).click()
    expect(page.get_by_text("Split into 2 documents")).to_be_visible()
    assert sorted(Document.objects.values_list("title", flat=True)) == ["Referral (pages 1–2)", "Referral (pages 3–3)"]
    checks("inbox-after-split")
    checks.assert_none()


def test_split_a_scan_into_parts_for_two_patients(live_server, page, organisation, ellis):
    robin = factories.make_patient(
        organisation, nhs_number="9434765870", given_name="Robin", family_name="Ashdown", date_of_birth=date(1990, 6, 1)
    )
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    scan = letter_pdf(["Referral", "NHS 9434765919", "DOB 14/03/1958"], ["Referral page 2"], ["Blood results"])
    item = receive(make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path="/srv/s"), scan).item
    inbox_prepare(item_id=item.pk)
    checks = PageChecks(page)
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/inbox/{item.pk}/")
    # the whole's category (the parts' own are hidden until the split is opened): part 1 keeps it
    page.get_by_role("combobox", name="Category", exact=True).select_option("letter")
    page.get_by_text("Split into several documents").click()
    first, second = page.get_by_role("group", name="Part 1"), page.get_by_role("group", name="Part 2")
    first.get_by_label("Pages").fill("1-2")
    second.get_by_label("Pages").fill("3")
    second.get_by_label("Patient", exact=True).select_option(label="Another patient (give the NHS number)")
    # a number nobody has first: the whole split is refused, with the reason beside part 2
    second.get_by_label("NHS number of another patient").fill("943 476 5846")
    page.get_by_role("button", name="File", exact=True).click()
    refusal = page.get_by_role("group", name="Part 2").get_by_text("No patient of yours has that NHS number")
    expect(refusal).to_be_visible()
    assert Document.objects.count() == 0
    checks("inbox-split-refused")
    second = page.get_by_role("group", name="Part 2")
    second.get_by_label("NHS number of another patient").fill("943 476 5870")
    second.get_by_label("Category").select_option("lab")
    second.get_by_label("Title").fill("Full blood count")
    page.get_by_role("button", name="File", exact=True).click()
    expect(page.get_by_text("Split into 2 documents")).to_be_visible()
    filed = sorted(Document.objects.values_list("title", "patient_id", "category"))
    assert filed == [("Full blood count", robin.pk, "lab"), ("Referral (pages 1–2)", ellis.pk, "letter")]
    checks("inbox-after-split-to-two")
    checks.assert_none()


def test_merge_two_scans_in_the_order_chosen_and_read_them_in_the_viewer(live_server, page, organisation, ellis):
    clinician = factories.make_user(organisation, ["clinician"], totp=True)
    source = make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path="/srv/scans")
    # the second page was scanned first
    later = receive(source, letter_pdf(["Letter page two"]), filename="scan-0001.pdf").item
    earlier = receive(source, letter_pdf(["Letter page one", "NHS 9434765919"]), filename="scan-0002.pdf").item
    for item in (later, earlier):
        inbox_prepare(item_id=item.pk)
    checks = PageChecks(page)
    sign_in(page, live_server, clinician)
    page.goto(f"{live_server.url}/inbox/")
    page.get_by_label("Select scan-0001.pdf").check()
    page.get_by_label("Select scan-0002.pdf").check()
    page.get_by_label("Action").select_option("merge")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Merge inbox items")).to_be_visible()
    checks("inbox-merge")
    page.get_by_label("Position of scan-0002.pdf").fill("1")
    page.get_by_label("Position of scan-0001.pdf").fill("2")
    page.get_by_role("button", name="Merge 2 items").click()
    expect(page.get_by_text("Merged 2 items into one document")).to_be_visible()
    merged = InboxItem.objects.exclude(pk__in=[later.pk, earlier.pk]).get()
    assert merged.provenance["merged_from"] == [str(earlier.pk), str(later.pk)]
    assert set(InboxItem.objects.filter(pk__in=[later.pk, earlier.pk]).values_list("state", flat=True)) == {"merged"}
    # the new item in the document viewer: two pages, thumbnails, next page, zoom
    viewer = page.locator("[data-viewer]")
    expect(viewer.locator("[data-page-count]")).to_have_text("2")
    expect(viewer.locator("[data-thumbs] button")).to_have_count(2)
    viewer.get_by_role("button", name="Next page").click()
    expect(viewer.get_by_label("Page", exact=True)).to_have_value("2")
    viewer.get_by_role("button", name="Zoom in").click()
    expect(viewer.locator("[data-zoom-level]")).not_to_have_value("width")
    checks("inbox-merged-item")
    checks.assert_none()
