"""The portal's search page and the viewer's word boxes, without a browser: access, refusals, audit."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.documents.services.text import document_extract_text
from tests import factories
from tests.documents import text_samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def letter(filesystem_storage, clinician, patient):
    data = text_samples.text_pdf(["Cover", "Continue warfarin; review the warfarin dose"])
    document = stored_document(user=clinician, patient=patient, data=data, title="Clinic letter")
    assert document_extract_text(document_id=document.pk) == "done"
    return document


def test_the_search_page_lists_hits_and_audits_the_search(clinician, patient, letter):
    client = factories.signed_in_client(clinician)
    response = client.get("/documents/search/", {"q": "warfarin", "patient": str(patient.pk)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 document found." in html and "<mark>warfarin</mark>" in html
    assert f"/documents/{letter.pk}/?page=2&amp;hl=warfarin#preview" in html
    event = AuditEvent.objects.get(action="document.searched")
    assert event.details["via"] == "portal" and event.details["results"] == 1


def test_the_document_page_says_whether_and_why_its_text_could_not_be_read(
    filesystem_storage, clinician, patient, letter
):
    scan = stored_document(user=clinician, patient=patient, data=text_samples.scan_png("Lab"), filename="lab.png")
    assert document_extract_text(document_id=scan.pk) == "failed"  # OCR is off in tests unless asked for
    client = factories.signed_in_client(clinician)
    html = client.get(f"/documents/{scan.pk}/").content.decode()
    assert "Text could not be read: This is a scan, and OCR (Tesseract) is not available on this server" in html
    assert "Text read" in client.get(f"/documents/{letter.pk}/").content.decode()


def test_another_organisations_patient_is_404_on_the_search_page(clinician, other_patient):
    client = factories.signed_in_client(clinician)
    assert client.get("/documents/search/", {"q": "x", "patient": str(other_patient.pk)}).status_code == 404


def test_word_boxes_mark_the_matching_words_of_the_page(clinician, letter):
    client = factories.signed_in_client(clinician)
    body = client.get(f"/documents/{letter.pk}/pages/2/words", {"q": "warfarin"}).json()
    assert body["page"] == 2 and len(body["boxes"]) == 2
    assert all(0 <= box["x"] <= 1 and 0 < box["width"] < 1 for box in body["boxes"])
    assert client.get(f"/documents/{letter.pk}/pages/1/words", {"q": "warfarin"}).json()["boxes"] == []
    event = AuditEvent.objects.filter(action="document.previewed", object_id=str(letter.pk)).first()
    assert event is not None and event.details["served"] == "word_boxes"


def test_word_boxes_of_a_document_the_role_may_not_see_are_refused(billing_user, letter):
    client = factories.signed_in_client(billing_user)
    assert client.get(f"/documents/{letter.pk}/pages/2/words", {"q": "warfarin"}).status_code == 403
