import io

import pypdf
import pytest

from apps.documents.models import Document
from apps.letters.models import Letter, LetterStatus
from apps.letters.preview import letter_pdf_bytes
from apps.letters.services import letter_finalise
from tests import factories

from .helpers import events, pdf_text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(clinician):
    return factories.signed_in_client(clinician)


FORM = {
    "recipient_name": "Dr J Smith",
    "recipient_role": "GP",
    "recipient_address": "The Surgery",
    "subject": "Clinic letter",
    "clinical_date": "2024-05-01",
    "encounter_id": "",
    "body": "# Plan\nRest.\n\n- Ice\n- <script>alert(1)</script>",
}


def test_write_a_letter_without_javascript(portal, patient):
    page = portal.get(f"/letters/patient/{patient.pk}/new/")
    assert page.status_code == 200
    assert b'id="autosave-status"' in page.content and b"js/letters.js" in page.content
    assert b'<label for="id_subject">' in page.content

    response = portal.post(f"/letters/patient/{patient.pk}/new/", {**FORM, "then": "edit"})

    letter = Letter.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/letters/{letter.pk}/edit/"
    assert (letter.subject, letter.status) == ("Clinic letter", LetterStatus.DRAFT)
    saved = portal.post(f"/letters/{letter.pk}/edit/", {**FORM, "subject": "Clinic letter (2)", "then": "preview"})
    assert saved["Location"] == f"/letters/{letter.pk}/"
    assert Letter.objects.get().subject == "Clinic letter (2)"


def test_preview_renders_light_formatting_and_escapes_everything(portal, clinician, patient):
    portal.post(f"/letters/patient/{patient.pk}/new/", FORM)
    letter = Letter.objects.get()

    page = portal.get(f"/letters/{letter.pk}/").content.decode()

    assert "<h3>Plan</h3>" in page
    assert "<li>Ice</li>" in page
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>" in page
    assert "<script>alert(1)" not in page


def test_finalise_asks_for_confirmation_first(portal, draft, document_files):
    confirm_page = portal.get(f"/letters/{draft.pk}/finalise/")
    assert confirm_page.status_code == 200
    assert b"cannot be changed" in confirm_page.content

    unconfirmed = portal.post(f"/letters/{draft.pk}/finalise/", {})
    assert unconfirmed.status_code == 400
    assert Letter.objects.get(pk=draft.pk).status == LetterStatus.DRAFT

    done = portal.post(f"/letters/{draft.pk}/finalise/", {"confirm": "yes"})
    assert done.status_code == 302
    letter = Letter.objects.get(pk=draft.pk)
    assert letter.status == LetterStatus.FINAL
    view = portal.get(f"/letters/{draft.pk}/").content.decode()
    assert "PDF document" in view
    assert "Amend letter" in view


def test_finalise_page_lists_what_is_missing(portal, clinician, patient, document_files):
    portal.post(f"/letters/patient/{patient.pk}/new/", {**FORM, "subject": "", "recipient_name": ""})
    letter = Letter.objects.get()

    response = portal.post(f"/letters/{letter.pk}/finalise/", {"confirm": "yes"})

    assert response.status_code == 400
    assert b"Add a subject before finalising." in response.content
    assert b"recipient name" in response.content
    assert Letter.objects.get().status == LetterStatus.DRAFT


def test_a_final_letter_cannot_be_edited_in_the_portal(portal, write_final, patient):
    letter = write_final(patient, body="Original.")

    response = portal.post(f"/letters/{letter.pk}/edit/", {**FORM, "body": "Changed."})

    assert response.status_code == 302
    assert response["Location"] == f"/letters/{letter.pk}/"
    assert Letter.objects.get(pk=letter.pk).body == "Original."


def test_amend_from_the_portal_opens_a_prefilled_draft(portal, write_final, patient):
    original = write_final(patient, subject="To correct")

    response = portal.post(f"/letters/{original.pk}/amend/")

    amendment = Letter.objects.get(amends=original)
    assert response["Location"] == f"/letters/{amendment.pk}/edit/"
    page = portal.get(response["Location"]).content.decode()
    assert "This draft corrects the final letter" in page
    assert 'value="To correct"' in page


def test_letters_list_links_drafts_and_final_letters(portal, draft, write_final, patient):
    final = write_final(patient, subject="Sent letter")

    page = portal.get(f"/letters/patient/{patient.pk}/").content.decode()

    assert f"/letters/{draft.pk}/edit/" in page
    assert f"/letters/{final.pk}/" in page
    assert "Write a letter" in page
    assert len(events("letter.listed")) == 1


def test_other_organisation_sees_404_and_billing_403(other_clinician, billing_user, draft, patient):
    outsider = factories.signed_in_client(other_clinician)
    billing = factories.signed_in_client(billing_user)

    assert outsider.get(f"/letters/{draft.pk}/").status_code == 404
    assert outsider.get(f"/letters/patient/{patient.pk}/").status_code == 404
    assert billing.get(f"/letters/{draft.pk}/").status_code == 403
    assert billing.post(f"/letters/patient/{patient.pk}/new/", FORM).status_code == 403
    assert Letter.objects.count() == 1


def test_anonymous_is_sent_to_sign_in(client, draft):
    response = client.get(f"/letters/{draft.pk}/")

    assert response.status_code == 302
    assert "/accounts/" in response["Location"] or "login" in response["Location"]


def test_autosave_contract_session_patch_needs_the_forms_csrf_token(clinician, draft):
    """What static/js/letters.js does: PATCH JSON with the form's CSRF token in X-CSRFToken."""
    import re

    from django.test import Client

    browser = factories.signed_in_client(clinician, Client(enforce_csrf_checks=True))
    page = browser.get(f"/letters/{draft.pk}/edit/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert f'data-update-url="/api/letters/{draft.pk}/"' in page

    refused = browser.patch(f"/api/letters/{draft.pk}/", {"body": "no token"}, content_type="application/json")
    saved = browser.patch(
        f"/api/letters/{draft.pk}/", {"body": "autosaved"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert refused.status_code == 403
    assert saved.status_code == 200
    assert Letter.objects.get(pk=draft.pk).body == "autosaved"


def test_the_pdf_signs_off_once_and_prints_bold_as_bold(clinician, patient, write_final):
    letter = write_final(patient, body="Please **stop warfarin** today.\n\nYours sincerely,")

    text = pdf_text_of(letter.document)

    assert text.count("Yours sincerely,") == 1
    assert "stop warfarin" in text and "**" not in text


def test_the_pdf_adds_the_sign_off_when_the_text_has_none(clinician, patient, write_final):
    letter = write_final(patient, body="Seen in clinic today.")

    assert pdf_text_of(letter.document).count("Yours sincerely,") == 1


def test_the_preview_is_the_pdf_itself(portal, draft, document_files):
    page = portal.get(f"/letters/{draft.pk}/").content.decode()

    assert f'src="/letters/{draft.pk}/pages/1.webp"' in page
    assert f"/letters/{draft.pk}/pages/2.webp" not in page
    image = portal.get(f"/letters/{draft.pk}/pages/1.webp")
    assert image.status_code == 200 and image["Content-Type"] == "image/webp"
    assert image.content[:4] == b"RIFF" and image.content[8:12] == b"WEBP"
    assert portal.get(f"/letters/{draft.pk}/pages/2.webp").status_code == 404


def test_a_final_letters_preview_waits_for_its_virus_check(portal, patient, write_final, settings):
    letter = write_final(patient)
    Document.objects.filter(pk=letter.document_id).update(scan_status="pending")

    page = portal.get(f"/letters/{letter.pk}/").content.decode()

    assert "being checked for viruses" in page and "pages/1.webp" not in page
    assert portal.get(f"/letters/{letter.pk}/pages/1.webp").status_code == 409


def test_another_organisations_letter_pages_are_not_found(other_clinician, draft, document_files):
    outsider = factories.signed_in_client(other_clinician)

    assert outsider.get(f"/letters/{draft.pk}/pages/1.webp").status_code == 404


def test_a_drafts_pdf_says_it_is_not_signed_and_the_final_one_that_it_is(clinician, patient, draft, document_files):
    assert b"draft, not signed" in _pdf_text(letter_pdf_bytes(draft)).encode()
    final = letter_finalise(actor=clinician, letter=draft)
    text = pdf_text_of(final.document)
    assert "Status: final" in text and "not signed" not in text


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_a_corrected_letter_says_so_once_its_correction_is_final(portal, clinician, patient, write_final):
    from apps.letters.services import letter_amend

    original = write_final(patient, subject="Knee clinic")
    amendment = letter_amend(actor=clinician, letter=original)

    while_drafting = portal.get(f"/letters/{original.pk}/").content.decode()
    letter_finalise(actor=clinician, letter=amendment)
    corrected = portal.get(f"/letters/{original.pk}/").content.decode()

    assert "has been corrected" not in while_drafting and "Superseded" not in while_drafting
    assert "This letter has been corrected and replaced" in corrected
    assert f'href="/letters/{amendment.pk}/">Read the correction' in corrected
    assert '<span class="badge badge-pending">Superseded</span>' in corrected
    assert f'action="/letters/{original.pk}/amend/"' in while_drafting  # the open draft is reused
    assert f'action="/letters/{original.pk}/amend/"' not in corrected and "Open the correction to amend it" in corrected
