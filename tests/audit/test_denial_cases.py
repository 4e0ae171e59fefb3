"""The refusals issue 16 found unaudited, one by one: each now writes one ``access.denied``.

tests/audit/test_denials.py walks every object route; these name what each event says.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from quill.logging import JsonFormatter
from tests import factories
from tests.documents.helpers import document_row
from tests.documents.samples import jpeg, pdf


def only_denial(user) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action="access.denied", actor_id=user.pk))
    assert len(events) == 1, events
    assert events[0].chain == str(user.organisation_id)
    return events[0]


@pytest.fixture
def lab_report(patient, clinician):
    return document_row(patient, clinician, category="lab")


@pytest.mark.parametrize(
    ("method", "suffix", "body", "attempted", "route"),
    [
        ("delete", "", {"reason": "Filed against the wrong patient"}, "document.delete", "documents-detail"),
        (
            "post",
            "legal-hold/",
            {"hold": True, "reason": "Case 2024/17"},
            "document.legal_hold",
            "documents-legal-hold",
        ),
    ],
    ids=["delete", "legal-hold"],
)
def test_clinician_refused_a_managers_action_on_a_document_is_audited(
    clinician, lab_report, method, suffix, body, attempted, route
):
    client = factories.token_client(clinician)
    response = getattr(client, method)(f"/api/documents/{lab_report.pk}/{suffix}", body, format="json")
    assert response.status_code == 403
    event = only_denial(clinician)
    assert (event.object_type, event.object_id, event.patient_id) == (
        "document",
        str(lab_report.pk),
        lab_report.patient_id,
    )
    assert event.details["reason"] == "role_required"
    assert (event.details["attempted"], event.details["route"]) == (attempted, route)
    lab_report.refresh_from_db()
    assert lab_report.deleted_at is None and not lab_report.legal_hold


def test_billing_uploading_a_clinical_category_is_refused_and_audited(billing_user, patient):
    client = factories.token_client(billing_user)
    report = SimpleUploadedFile("report.pdf", pdf(pages=1), content_type="application/pdf")
    upload = {"patient_id": str(patient.pk), "category": "lab", "file": report}
    response = client.post("/api/documents/", upload, format="multipart")
    assert response.status_code == 403
    event = only_denial(billing_user)
    assert (event.object_type, event.patient_id) == ("patient", patient.pk)
    assert event.details == {
        "reason": "role_required",
        "attempted": "document.upload",
        "category": "lab",
        "route": "documents-list",
    }
    assert not Document.objects.exists()


def test_billing_moving_a_document_into_a_clinical_category_is_refused_and_audited(billing_user, patient, clinician):
    insurance = document_row(patient, clinician, category="insurance")
    response = factories.token_client(billing_user).patch(
        f"/api/documents/{insurance.pk}/", {"category": "lab"}, format="json"
    )
    assert response.status_code == 403
    event = only_denial(billing_user)
    assert (event.object_id, event.patient_id) == (str(insurance.pk), patient.pk)
    assert (event.details["attempted"], event.details["category"]) == ("document.update", "lab")
    insurance.refresh_from_db()
    assert insurance.category == "insurance"


@pytest.mark.parametrize("page", ["/documents/deleted/", "/documents/quarantine/"], ids=["deleted", "quarantine"])
def test_clinician_on_a_managers_page_is_audited(clinician, page):
    response = factories.signed_in_client(clinician).get(page)
    assert response.status_code == 403
    event = only_denial(clinician)
    assert event.details["reason"] == "role_required"
    assert event.details["route"] in ("documents:deleted", "documents:quarantine")


def test_clinician_deleting_in_the_portal_is_audited(clinician, lab_report):
    client = factories.signed_in_client(clinician)
    response = client.post(f"/documents/{lab_report.pk}/delete/", {"reason": "Filed against the wrong patient"})
    assert response.status_code == 403
    event = only_denial(clinician)
    assert (event.object_id, event.details["attempted"], event.details["route"]) == (
        str(lab_report.pk),
        "document.delete",
        "documents:delete",
    )


def test_clinician_changing_a_colleagues_photo_is_audited(clinician, administrator):
    client = factories.signed_in_client(clinician)
    response = client.post(f"/documents/users/{administrator.pk}/photo/", {"photo": _photo()})
    assert response.status_code == 403
    event = only_denial(clinician)
    assert (event.object_type, event.object_id, event.details["attempted"]) == (
        "user",
        str(administrator.pk),
        "user.photo_change",
    )
    administrator.refresh_from_db()
    assert not administrator.photo_key


def test_billing_adding_a_patient_photo_is_audited(billing_user, patient):
    response = factories.signed_in_client(billing_user).post(
        f"/documents/patient/{patient.pk}/photo/", {"photo": _photo()}
    )
    assert response.status_code == 403
    event = only_denial(billing_user)
    assert (event.object_type, event.patient_id, event.details["attempted"]) == (
        "patient",
        patient.pk,
        "patient.photo_change",
    )
    patient.refresh_from_db()
    assert not patient.photo_key


def _photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("me.jpg", jpeg(64, 64), content_type="image/jpeg")


def test_unknown_document_id_is_audited_as_not_found(clinician):
    missing = "0b0b0b0b-0000-4000-8000-000000000000"
    response = factories.token_client(clinician).get(f"/api/documents/{missing}/")
    assert response.status_code == 404
    event = only_denial(clinician)
    assert (event.object_type, event.object_id, event.patient_id) == ("document", missing, None)
    assert event.details == {"reason": "not_found", "attempted": "document.view", "route": "documents-detail"}


def test_soft_deleted_document_is_audited_as_deleted(clinician, patient):
    deleted = document_row(patient, clinician, deleted_at=timezone.now(), deleted_reason="Wrong patient")
    response = factories.token_client(clinician).get(f"/api/documents/{deleted.pk}/")
    assert response.status_code == 404
    assert response.json()["detail"]["error_code"] == "not_found"
    event = only_denial(clinician)
    assert (event.object_id, event.patient_id, event.details["reason"]) == (str(deleted.pk), patient.pk, "deleted")


def test_another_organisations_user_photo_is_a_plain_not_found(clinician, other_clinician, caplog):
    with caplog.at_level(logging.WARNING, logger="quill.security"):
        response = factories.signed_in_client(clinician).get(f"/documents/users/{other_clinician.pk}/photo/")
    assert response.status_code == 404
    event = only_denial(clinician)
    assert (event.object_type, event.object_id, event.details["reason"]) == (
        "user",
        str(other_clinician.pk),
        "not_found",
    )
    assert not AuditEvent.objects.filter(chain=str(other_clinician.organisation_id)).exists()
    [line] = [record for record in caplog.records if record.name == "quill.security"]
    assert line.object_type == "user"


def test_another_organisations_document_goes_to_the_security_log_as_one_json_line(
    clinician, other_clinician, other_patient, caplog
):
    theirs = document_row(other_patient, other_clinician)
    with caplog.at_level(logging.WARNING, logger="quill.security"):
        response = factories.token_client(clinician).get(f"/api/documents/{theirs.pk}/", HTTP_X_REQUEST_ID="probe-1")
    assert response.status_code == 404
    [record] = [record for record in caplog.records if record.name == "quill.security"]
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "quill.security"
    assert line["level"] == "WARNING"
    assert line["security_event"] == "cross_organisation_access"
    assert (line["object_type"], line["object_id"]) == ("document", str(theirs.pk))
    assert line["owner_organisation_id"] == str(other_clinician.organisation_id)
    assert line["actor_id"] == clinician.pk
    assert line["attempted"] == "document.view"
    # The caller's own chain says only "not found", exactly as for an id that exists nowhere.
    event = only_denial(clinician)
    assert event.details == {"reason": "not_found", "attempted": "document.view", "route": "documents-detail"}
    assert event.request_id == "probe-1"
