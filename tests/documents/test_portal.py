"""Portal pages for documents: the patient page's region, the no-JavaScript upload, the document page,
thumbnails, and the administrators' Deleted and Quarantine views."""

from __future__ import annotations

import os
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.services import document_soft_delete
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _patient_page(client, patient, **params):
    return client.get(reverse("patients:detail", args=[patient.pk]), params)


def _stored_objects(folder) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names]


# --- the patient page's documents region --------------------------------------------------------


def test_patient_page_lists_documents_with_their_facts(filesystem_storage, clinician, patient):
    document = stored_document(
        user=clinician,
        patient=patient,
        data=samples.pdf(),
        title="Full blood count",
        encounter_id="ENC-7",
        document_date=date(2025, 3, 4),
    )
    response = _patient_page(factories.signed_in_client(clinician), patient)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Full blood count" in html
    assert reverse("documents:detail", args=[document.pk]) in html
    for fact in ("Lab report", "4 Mar 2025", "ENC-7", clinician.full_name, "Clean"):
        assert fact in html, fact
    assert "thumb-placeholder" in html  # no thumbnail made yet
    event = AuditEvent.objects.filter(action="document.listed", patient_id=patient.pk).latest("sequence")
    assert event.details["documents"] == [str(document.pk)]


def test_patient_page_shows_a_thumbnail_when_one_was_made(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.png(), filename="photo.png")
    key = storage.thumbnail_key(document.storage_key)
    storage.put_bytes(key=key, data=b"RIFF....WEBP", content_type="image/webp")
    Document.objects.filter(pk=document.pk).update(thumbnail_key=key)
    client = factories.signed_in_client(clinician)
    html = _patient_page(client, patient).content.decode()
    assert reverse("documents:thumbnail", args=[document.pk]) in html
    response = client.get(reverse("documents:thumbnail", args=[document.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert b"".join(response.streaming_content) == b"RIFF....WEBP"


def test_thumbnail_view_is_404_without_a_thumbnail_and_for_other_organisations(
    filesystem_storage, clinician, other_clinician, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    assert (
        factories.signed_in_client(clinician).get(reverse("documents:thumbnail", args=[document.pk])).status_code == 404
    )
    Document.objects.filter(pk=document.pk).update(thumbnail_key="x_thumb.webp")
    response = factories.signed_in_client(other_clinician).get(reverse("documents:thumbnail", args=[document.pk]))
    assert response.status_code == 404


def test_filters_by_category_encounter_and_date_range(filesystem_storage, clinician, patient):
    stored_document(
        user=clinician, patient=patient, data=samples.pdf(), title="Old lab", document_date=date(2024, 1, 5)
    )
    stored_document(
        user=clinician,
        patient=patient,
        data=samples.pdf(),
        title="Consent",
        category="consent",
        encounter_id="E1",
        document_date=date(2025, 6, 1),
    )
    client = factories.signed_in_client(clinician)
    by_category = _patient_page(client, patient, category="consent").content.decode()
    assert "Consent" in by_category and "Old lab" not in by_category
    by_encounter = _patient_page(client, patient, encounter_id="E1").content.decode()
    assert "Consent" in by_encounter and "Old lab" not in by_encounter
    by_dates = _patient_page(client, patient, date_from="2024-01-01", date_to="2024-12-31").content.decode()
    assert "Old lab" in by_dates and ">Consent<" not in by_dates
    nothing = _patient_page(client, patient, date_from="2030-01-01").content.decode()
    assert "No documents match these filters" in nothing


def test_the_encounter_filter_ignores_case_and_matches_the_start(filesystem_storage, clinician, patient):
    stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Consent", encounter_id="ENC-2025-117")
    stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Other visit", encounter_id="XENC-9")
    client = factories.signed_in_client(clinician)

    page = _patient_page(client, patient, encounter_id="enc-2025").content.decode()

    assert ">Consent<" in page and "Other visit" not in page


@pytest.mark.parametrize(
    "filters",
    [{"date_from": "2025-12-31", "date_to": "2025-01-01"}, {"date_from": "2025-13-45"}, {"category": "recipes"}],
    ids=["reversed-range", "impossible-date", "unknown-category"],
)
def test_filters_that_cannot_be_read_list_nothing_and_say_why(filesystem_storage, clinician, patient, filters):
    stored_document(
        user=clinician, patient=patient, data=samples.pdf(), title="Old lab", document_date=date(2025, 6, 1)
    )
    client = factories.signed_in_client(clinician)

    response = _patient_page(client, patient, **filters)

    page = response.content.decode()
    assert "Old lab" not in page
    assert "Nothing was listed: correct the filters above" in page
    assert 'class="field-error"' in page
    assert list(response.context["documents_region"]["page"].object_list) == []


def test_documents_are_paginated(filesystem_storage, clinician, patient):
    for number in range(22):
        stored_document(user=clinician, patient=patient, data=samples.png(8, 8), filename=f"p{number}.png")
    client = factories.signed_in_client(clinician)
    first = _patient_page(client, patient).content.decode()
    assert first.count('class="thumb-cell"') == 20
    assert "Page 1 of 2" in first
    second = _patient_page(client, patient, page=2).content.decode()
    assert second.count('class="thumb-cell"') == 2


def test_empty_state_says_what_to_do(filesystem_storage, clinician, patient):
    html = _patient_page(factories.signed_in_client(clinician), patient).content.decode()
    assert "No documents yet" in html and "Upload documents" in html


def test_billing_user_sees_only_insurance_documents(filesystem_storage, clinician, billing_user, patient):
    stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Clinic letter", category="letter")
    stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Claim form", category="insurance")
    html = _patient_page(factories.signed_in_client(billing_user), patient).content.decode()
    assert "Claim form" in html and "Clinic letter" not in html
    assert '<option value="lab">' not in html  # only insurance can be filed or filtered


# --- upload without JavaScript -------------------------------------------------------------------


def _upload(client, patient, data, filename="letter.pdf", **fields):
    body = {"file": SimpleUploadedFile(filename, data), "category": "letter", **fields}
    return client.post(reverse("documents:upload", args=[patient.pk]), body)


def test_plain_form_upload_stores_the_document_and_returns_to_the_patient(filesystem_storage, clinician, patient):
    client = factories.signed_in_client(clinician)
    response = _upload(client, patient, samples.pdf(), title="Discharge letter", encounter_id="E9")
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", args=[patient.pk]) + "#documents"
    document = Document.objects.get(patient=patient)
    assert (document.title, document.category, document.encounter_id) == ("Discharge letter", "letter", "E9")
    assert storage.exists(document.storage_key)
    assert AuditEvent.objects.filter(action="document.uploaded", object_id=str(document.pk)).exists()


def test_plain_form_refusal_shows_the_message_and_stores_nothing(
    settings, filesystem_storage, clinician, patient, tmp_path
):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR)
    response = _upload(factories.signed_in_client(clinician), patient, samples.windows_executable(), "virus.pdf")
    assert response.status_code == 415
    assert 'data-refusal="unsupported_type"' in response.content.decode()
    assert not Document.objects.exists()
    assert _stored_objects(filesystem_storage) == []
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_plain_form_too_large_is_413(settings, filesystem_storage, clinician, patient):
    settings.QUILL_MAX_UPLOAD_BYTES = 1000
    response = _upload(factories.signed_in_client(clinician), patient, samples.pdf())
    assert response.status_code == 413
    assert 'data-refusal="file_too_large"' in response.content.decode()
    assert not Document.objects.exists()


def test_plain_form_without_a_file_or_category(filesystem_storage, clinician, patient):
    client = factories.signed_in_client(clinician)
    missing = client.post(reverse("documents:upload", args=[patient.pk]), {"category": "lab"})
    assert missing.status_code == 400 and 'data-refusal="missing_file"' in missing.content.decode()
    no_category = _upload(client, patient, samples.pdf(), category="")
    assert no_category.status_code == 400
    assert not Document.objects.exists()


def test_plain_form_needs_the_csrf_token(filesystem_storage, clinician, patient):
    client = factories.signed_in_client(clinician, client=Client(enforce_csrf_checks=True))
    response = _upload(client, patient, samples.pdf())
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_plain_form_refuses_billing_filing_a_clinical_category(filesystem_storage, billing_user, patient):
    response = _upload(factories.signed_in_client(billing_user), patient, samples.pdf(), category="lab")
    assert response.status_code == 400  # "lab" is not even a choice for billing
    assert not Document.objects.exists()


def test_upload_page_for_another_organisations_patient_is_404(filesystem_storage, other_clinician, patient):
    response = factories.signed_in_client(other_clinician).get(reverse("documents:upload", args=[patient.pk]))
    assert response.status_code == 404


# --- the document page -----------------------------------------------------------------------------


def test_document_page_shows_preview_history_and_forms(filesystem_storage, clinician, patient):
    document = stored_document(
        user=clinician, patient=patient, data=samples.png(), filename="wound.png", category="photo"
    )
    response = factories.signed_in_client(clinician).get(reverse("documents:detail", args=[document.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    content = reverse("documents-content", args=[document.pk])
    assert f'src="{content}?disposition=inline"' in html
    assert document.sha256 in html
    assert "Replace with a new version" in html
    assert '<td data-label="What">Uploaded</td>' in html  # the history, with readable labels
    assert AuditEvent.objects.filter(action="document.viewed", object_id=str(document.pk)).exists()


def test_pdf_document_page_renders_pages_for_annotation(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(3))
    client = factories.signed_in_client(clinician)
    html = client.get(reverse("documents:detail", args=[document.pk])).content.decode()
    assert reverse("documents:page_image", args=[document.pk, 1]) in html
    assert "<iframe" in html and "sandbox" not in html.split("<iframe", 1)[1].split(">", 1)[0]
    page = client.get(reverse("documents:page_image", args=[document.pk, 2]))
    assert page.status_code == 200 and page["Content-Type"] == "image/webp"
    assert page["X-Page-Count"] == "3"
    assert page.content[:4] == b"RIFF" and page.content[8:12] == b"WEBP"
    assert client.get(reverse("documents:page_image", args=[document.pk, 4])).status_code == 404
    assert AuditEvent.objects.filter(action="document.previewed", object_id=str(document.pk)).count() == 1


def test_pending_document_page_has_no_preview_and_no_page_images(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    client = factories.signed_in_client(clinician)
    html = client.get(reverse("documents:detail", args=[document.pk])).content.decode()
    assert "still being checked for viruses" in html and "data-annotator" not in html
    assert client.get(reverse("documents:page_image", args=[document.pk, 1])).status_code == 409


def test_status_endpoint_reports_the_scan_state(filesystem_storage, clinician, other_clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    url = reverse("documents:status", args=[document.pk])
    body = factories.signed_in_client(clinician).get(url).json()
    assert body["scan_status"] == "pending" and body["available"] is False
    Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.CLEAN)
    body = factories.signed_in_client(clinician).get(url).json()
    assert (body["scan_status"], body["label"], body["available"]) == ("clean", "Clean", True)
    assert factories.signed_in_client(other_clinician).get(url).status_code == 404


def test_billing_user_cannot_open_a_clinical_document_page(filesystem_storage, clinician, billing_user, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), category="lab")
    response = factories.signed_in_client(billing_user).get(reverse("documents:detail", args=[document.pk]))
    assert response.status_code == 403


def test_administrator_deletes_and_restores_a_document(filesystem_storage, clinician, administrator, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Wrong patient")
    admin = factories.signed_in_client(administrator)
    deleted = admin.post(reverse("documents:delete", args=[document.pk]), {"reason": "Filed to the wrong patient"})
    assert deleted.status_code == 302
    document.refresh_from_db()
    assert document.deleted_at is not None
    listing = admin.get(reverse("documents:deleted"))
    assert listing.status_code == 200 and "Wrong patient" in listing.content.decode()
    assert "Filed to the wrong patient" in listing.content.decode()
    assert factories.signed_in_client(clinician).get(reverse("documents:detail", args=[document.pk])).status_code == 404
    restored = admin.post(reverse("documents:restore", args=[document.pk]))
    assert restored.status_code == 302
    document.refresh_from_db()
    assert document.deleted_at is None
    assert AuditEvent.objects.filter(action="document.restored", object_id=str(document.pk)).exists()


def test_deleted_and_quarantine_views_are_for_administrators_only(
    filesystem_storage, clinician, administrator, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    document_soft_delete(actor=administrator, document=document, reason="Duplicate upload")
    client = factories.signed_in_client(clinician)
    assert client.get(reverse("documents:deleted")).status_code == 403
    assert client.get(reverse("documents:quarantine")).status_code == 403
    assert client.post(reverse("documents:restore", args=[document.pk])).status_code == 404


def test_quarantine_view_lists_infected_documents_with_their_signature(
    filesystem_storage, clinician, administrator, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Bad scan", clean=False)
    Document.objects.filter(pk=document.pk).update(
        scan_status=ScanStatus.INFECTED, scan_signature="Eicar-Test-Signature"
    )
    html = factories.signed_in_client(administrator).get(reverse("documents:quarantine")).content.decode()
    assert "Bad scan" in html and "Eicar-Test-Signature" in html


def test_navigation_links_for_administrators(filesystem_storage, administrator):
    html = factories.signed_in_client(administrator).get(reverse("patients:list")).content.decode()
    assert reverse("documents:quarantine") in html and reverse("documents:deleted") in html


def test_upload_page_refuses_a_user_without_a_role(filesystem_storage, organisation, patient):
    roleless = factories.make_user(organisation, roles=())

    response = factories.signed_in_client(roleless).get(reverse("documents:upload", args=[patient.pk]))

    assert response.status_code == 403
    # The patient rule refuses first; the refusal is audited once, not again by the documents rule.
    assert [event.details["reason"] for event in AuditEvent.objects.filter(action="access.denied")] == ["role_required"]


def test_the_patient_page_leads_with_documents_and_folds_the_rest(filesystem_storage, clinician, patient):
    client = factories.signed_in_client(clinician)
    empty = _patient_page(client, patient).content.decode()
    assert '<details class="upload-panel" id="upload" open>' in empty  # nothing yet: the upload is the task

    stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Old lab")
    page = _patient_page(client, patient).content.decode()

    assert page.index('id="documents-heading"') < page.index('id="record-details-heading"')
    assert '<details class="card record-details" id="record-details">' in page  # folded
    assert page.index('id="record-details"') < page.index('id="identifiers-heading"')
    assert '<details class="upload-panel" id="upload">' in page


def test_the_activity_table_collapses_repeated_views_and_names_people(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Old lab")
    client = factories.signed_in_client(clinician)
    for _ in range(14):
        client.get(f"/documents/{document.pk}/")

    html = client.get(f"/documents/{document.pk}/").content.decode()

    activity = html.split('id="history-heading"')[1]
    assert 'Opened the document page <span class="muted">(14 times)</span>' in activity  # this view is recorded after
    assert activity.count("Opened the document page") == 1
    assert clinician.full_name in activity and clinician.email not in activity


def test_the_document_page_shortens_each_sha256_and_keeps_the_whole_value_one_click_away(
    filesystem_storage, clinician, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(1))

    html = factories.signed_in_client(clinician).get(reverse("documents:detail", args=[document.pk])).content.decode()

    assert f'<code class="hash">{document.sha256[:12]}…</code>' in html
    assert f'<code class="hash">{document.sha256}</code>' in html  # inside the <details>, for reading and selecting
    assert f'data-copy="{document.sha256}"' in html
