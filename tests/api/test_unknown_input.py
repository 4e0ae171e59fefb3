"""A query parameter or body field the API does not take is refused (400), never silently ignored.

A mistyped filter (`?categroy=lab`) read as "no filter" would hand an integrator every document
instead of the lab reports; a mistyped form part (`titel`) would store a document without its
title. Both are refused, the answer names the stranger and says what the address takes, and
nothing is listed, stored or audited as done.
"""

from __future__ import annotations

import os
from datetime import date
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.documents.services.annotations import annotation_create
from apps.documents.services.links import signed_link_issue
from apps.letters.services import letter_create
from apps.reviews.models import Priority
from apps.reviews.services import assign_review
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.documents.test_upload_api import assert_nothing_stored


def _refused(response, code: str, name: str) -> dict:
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert detail["error_code"] == code
    assert list(detail["fields"]) == [name]
    return detail


# --- lists ------------------------------------------------------------------------------------------

LISTS = [
    pytest.param("documents", "categroy", "category", "document.listed", id="documents"),
    pytest.param("patients", "nhs_numbr", "nhs_number", "patient.searched", id="patients"),
    pytest.param("letters", "pagesize", "page_size", "letter.listed", id="letters"),
    pytest.param("audit", "actr", "actor", "audit.searched", id="audit"),
]


def _list_url(which: str, patient) -> str:
    return {
        "documents": "/api/documents/",
        "patients": "/api/patients/",
        "letters": f"/api/patients/{patient.pk}/letters/",
        "audit": "/api/audit/",
    }[which]


@pytest.fixture
def all_roles(organisation):
    """One user who may read every list (clinical lists and the audit trail)."""
    return factories.make_user(organisation, ["clinician", "owner"])


@pytest.mark.parametrize(("which", "typo", "meant", "listed"), LISTS)
def test_a_mistyped_list_filter_is_refused_and_names_the_one_meant(all_roles, patient, which, typo, meant, listed):
    # given a filter spelt wrong
    client = factories.token_client(all_roles)
    # when the list is asked for with it
    response = client.get(f"{_list_url(which, patient)}?{typo}=1")
    # then it is refused, named, and the parameter meant is suggested among those the address takes
    detail = _refused(response, "unknown_parameter", typo)
    assert f"“{typo}”" in detail["message"]
    assert f"Did you mean “{meant}”?" in detail["message"]
    assert "page_size" in detail["message"]
    # and nothing was listed (no list was read, so none is recorded as read)
    assert not AuditEvent.objects.filter(action=listed).exists()


KNOWN = {
    "documents": {
        "category": "lab",
        "encounter_id": "ENC-1",
        "date_from": "2020-01-01",
        "date_to": "2030-01-01",
        "scan_status": "clean",
        "q": "bloods",
        "page": "1",
        "page_size": "10",
    },
    "patients": {"q": "Ada", "nhs_number": "943 476 5919", "date_of_birth": "1980-01-31", "mrn": "M1", "page": "1"},
    "letters": {"page": "1", "page_size": "5"},
    "audit": {
        "actor": "someone@example.org",
        "action": "document.",
        "date_from": "2020-01-01",
        "date_to": "2030-01-01",
        "page": "1",
        "page_size": "50",
    },
}


@pytest.mark.parametrize("which", list(KNOWN))
def test_every_documented_filter_is_still_taken(all_roles, patient, which):
    params = {**KNOWN[which]}
    if which in ("documents", "audit"):
        params["patient_id"] = str(patient.pk)
    response = factories.token_client(all_roles).get(f"{_list_url(which, patient)}?{urlencode(params)}")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"count", "next", "previous", "results"}


def test_an_unknown_parameter_is_refused_beside_known_ones(all_roles, patient):
    response = factories.token_client(all_roles).get("/api/documents/", {"category": "lab", "sort": "date"})
    _refused(response, "unknown_parameter", "sort")


def test_format_is_not_a_parameter_of_the_api(all_roles):
    # the API answers JSON only: DRF's ?format= override is refused like any other unknown parameter
    for value in ("json", "xml"):
        response = factories.token_client(all_roles).get("/api/patients/", {"format": value})
        _refused(response, "unknown_parameter", "format")


def test_credentials_are_checked_before_parameters(patient):
    response = factories.APIClient().get("/api/documents/?categroy=lab")
    assert response.status_code == 401
    assert response.json()["detail"]["error_code"] == "not_authenticated"


def test_an_operation_without_parameters_refuses_any(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = factories.token_client(clinician).get(f"/api/documents/{document.pk}/?fields=title")
    _refused(response, "unknown_parameter", "fields")
    assert not AuditEvent.objects.filter(action="document.viewed").exists()


def test_a_mistyped_delete_reason_is_refused_and_nothing_is_deleted(
    filesystem_storage, clinician, administrator, patient
):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = factories.token_client(administrator).delete(f"/api/documents/{document.pk}/?reasn=Filed+in+error")
    detail = _refused(response, "unknown_parameter", "reasn")
    assert "Did you mean “reason”?" in detail["message"]
    assert Document.objects.get(pk=document.pk).deleted_at is None


# --- upload forms -----------------------------------------------------------------------------------


def _form(patient, **extra) -> dict:
    return {"patient_id": str(patient.pk), "category": "lab", **extra}


def test_an_unknown_part_beside_the_file_is_refused_and_nothing_stored(
    filesystem_storage, clinician, patient, upload_tmp
):
    body = _form(patient, file=SimpleUploadedFile("bloods.pdf", samples.pdf()), titel="Bloods")
    response = factories.token_client(clinician).post("/api/documents/", body, format="multipart")
    detail = _refused(response, "unknown_field", "titel")
    assert "Did you mean “title”?" in detail["message"]
    assert_nothing_stored(upload_tmp, patient)


def test_the_file_under_another_name_is_refused_as_an_unknown_part(filesystem_storage, clinician, patient, upload_tmp):
    body = _form(patient, document=SimpleUploadedFile("bloods.pdf", samples.pdf()))
    response = factories.token_client(clinician).post("/api/documents/", body, format="multipart")
    _refused(response, "unknown_field", "document")
    assert_nothing_stored(upload_tmp, patient)


def test_bulk_upload_refuses_an_unknown_part_and_stores_none(filesystem_storage, clinician, patient, upload_tmp):
    files = [SimpleUploadedFile(f"{n}.pdf", samples.pdf()) for n in ("a", "b")]
    body = _form(patient, files=files, titels=["A", "B"])
    response = factories.token_client(clinician).post("/api/documents/bulk/", body, format="multipart")
    detail = _refused(response, "unknown_field", "titels")
    assert "Did you mean “titles”?" in detail["message"]
    assert_nothing_stored(upload_tmp, patient)


def test_bulk_upload_still_takes_every_part_it_lists(filesystem_storage, clinician, patient, upload_tmp):
    files = [SimpleUploadedFile(f"{n}.pdf", samples.pdf()) for n in ("a", "b")]
    body = _form(
        patient,
        files=files,
        titles=["A", "B"],
        categories=["lab", "referral"],
        document_dates=["2025-01-02", ""],
        encounter_id="ENC-1",
        document_date="2025-01-01",
    )
    response = factories.token_client(clinician).post("/api/documents/bulk/", body, format="multipart")
    assert response.status_code == 201, response.content
    assert sorted(Document.objects.values_list("title", "category")) == [("A", "lab"), ("B", "referral")]


def test_a_new_version_with_an_unknown_part_is_refused(filesystem_storage, clinician, patient, upload_tmp):
    current = stored_document(user=clinician, patient=patient, data=samples.pdf(), filename="bloods.pdf")
    body = {"file": SimpleUploadedFile("bloods-2.pdf", samples.pdf(2)), "document_dat": "2025-02-03"}
    response = factories.token_client(clinician).post(
        f"/api/documents/{current.pk}/versions/", body, format="multipart"
    )
    _refused(response, "unknown_field", "document_dat")
    assert list(Document.objects.values_list("pk", flat=True)) == [current.pk]
    assert os.listdir(upload_tmp) == []


def test_a_part_sent_twice_is_refused_not_read_as_its_last_value(filesystem_storage, clinician, patient, upload_tmp):
    body = _form(patient, file=SimpleUploadedFile("bloods.pdf", samples.pdf()), title=["[]", "Bloods"])
    response = factories.token_client(clinician).post("/api/documents/", body, format="multipart")
    detail = _refused(response, "repeated_field", "title")
    assert detail["fields"] == {"title": ["“title” is sent 2 times; send it once."]}
    assert_nothing_stored(upload_tmp, patient)


def test_two_files_for_the_one_file_upload_are_refused(filesystem_storage, clinician, patient, upload_tmp):
    files = [SimpleUploadedFile(f"{n}.pdf", samples.pdf()) for n in ("a", "b")]
    response = factories.token_client(clinician).post("/api/documents/", _form(patient, file=files), format="multipart")
    _refused(response, "repeated_field", "file")
    assert_nothing_stored(upload_tmp, patient)


def test_bulk_upload_refuses_a_shared_part_sent_twice(filesystem_storage, clinician, patient, upload_tmp):
    files = [SimpleUploadedFile(f"{n}.pdf", samples.pdf()) for n in ("a", "b")]
    body = _form(patient, files=files, encounter_id=["ENC-1", "ENC-2"])
    response = factories.token_client(clinician).post("/api/documents/bulk/", body, format="multipart")
    _refused(response, "repeated_field", "encounter_id")
    assert_nothing_stored(upload_tmp, patient)


def test_a_new_version_with_a_date_sent_twice_is_refused(filesystem_storage, clinician, patient, upload_tmp):
    current = stored_document(user=clinician, patient=patient, data=samples.pdf(), filename="bloods.pdf")
    body = {"file": SimpleUploadedFile("bloods-2.pdf", samples.pdf(2)), "document_date": ["2025-02-03", "2025-02-04"]}
    response = factories.token_client(clinician).post(
        f"/api/documents/{current.pk}/versions/", body, format="multipart"
    )
    _refused(response, "repeated_field", "document_date")
    assert list(Document.objects.values_list("pk", flat=True)) == [current.pk]
    assert os.listdir(upload_tmp) == []


def test_the_direct_upload_refuses_an_unknown_query_parameter(filesystem_storage, clinician, patient, upload_tmp):
    query = {"patient_id": str(patient.pk), "category": "lab", "filename": "bloods.pdf", "titel": "Bloods"}
    response = factories.token_client(clinician).generic(
        "POST", f"/api/documents/upload/?{urlencode(query)}", samples.pdf(), content_type="application/pdf"
    )
    _refused(response, "unknown_parameter", "titel")
    assert_nothing_stored(upload_tmp, patient)


def test_an_unknown_json_key_is_refused_as_an_unknown_field(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Bloods")
    response = factories.token_client(clinician).patch(
        f"/api/documents/{document.pk}/", {"titel": "Renal panel"}, format="json"
    )
    _refused(response, "unknown_field", "titel")
    assert Document.objects.get(pk=document.pk).title == "Bloods"


# --- every operation --------------------------------------------------------------------------------


def _operations() -> list[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item]


@pytest.fixture
def records(filesystem_storage, all_roles, patient):
    """One of each record an operation's address can name, all of which `all_roles` may act on."""
    document = stored_document(user=all_roles, patient=patient, data=samples.pdf())
    annotation = annotation_create(
        actor=all_roles, document=document, kind="marker", page=1, geometry={"x": 0.5, "y": 0.5}
    )
    letter = letter_create(actor=all_roles, patient=patient, subject="Knee clinic")
    token, _ = signed_link_issue(actor=all_roles, document=document, api_token=None, expires_in=300)
    review = assign_review(
        document, assignee=all_roles, priority=Priority.ROUTINE, due_date=date.today(), assigned_by=all_roles
    )
    return {
        "{review_id}": str(review.pk),
        "{document_id}": str(document.pk),
        "{annotation_id}": str(annotation.pk),
        "{patient_id}": str(patient.pk),
        "{letter_id}": str(letter.pk),
        "{token}": token,
    }


def test_every_operation_refuses_a_parameter_it_does_not_take(all_roles, records):
    # given a caller who may use every operation on these records
    client = factories.token_client(all_roles)
    answers = {}
    for method, path in _operations():
        address = path
        for placeholder, value in records.items():
            address = address.replace(placeholder, value)
        # when each is sent one parameter it does not take
        response = client.generic(method, f"{address}?zz_not_a_parameter=1")
        answers[f"{method} {path}"] = (response.status_code, response.json()["detail"]["error_code"])
    # then each refuses it, before doing anything
    assert answers == dict.fromkeys(answers, (400, "unknown_parameter"))
    assert Document.objects.filter(deleted_at__isnull=False).count() == 0


def test_an_undeclared_method_is_405_whatever_the_parameters(all_roles, patient):
    response = factories.token_client(all_roles).generic("TRACE", "/api/documents/?category=lab&zz=1")
    assert response.status_code == 405
    assert response.json()["detail"]["error_code"] == "method_not_allowed"


def test_another_organisations_record_is_404_whatever_the_parameters(filesystem_storage, other_clinician, all_roles):
    # the record is looked up (and the caller's access to it decided) before the parameters are read
    other = stored_document(user=other_clinician, patient=other_clinician_patient(other_clinician), data=samples.pdf())
    response = factories.token_client(all_roles).get(f"/api/documents/{other.pk}/?zz=1")
    assert response.status_code == 404
    assert response.json()["detail"]["error_code"] == "not_found"


def test_billing_on_a_clinical_document_is_refused_for_the_role_whatever_the_parameters(
    filesystem_storage, billing_user, clinician, patient
):
    lab_report = stored_document(user=clinician, patient=patient, data=samples.pdf())
    response = factories.token_client(billing_user).delete(f"/api/documents/{lab_report.pk}/?=x&reasn=y")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="access.denied", actor_id=billing_user.pk).count() == 1


def other_clinician_patient(other_clinician):
    return factories.make_patient(other_clinician.organisation)


@pytest.mark.parametrize(
    "query",
    ["category=lab&category=imaging", "page=1&page=2", "category=lab&category=lab"],
    ids=["two-values", "page-twice", "same-value-twice"],
)
def test_a_parameter_given_twice_is_refused_not_read_as_its_last_value(all_roles, query):
    response = factories.token_client(all_roles).get(f"/api/documents/?{query}")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error_code"] == "repeated_parameter"
    name = query.split("=")[0]
    assert list(detail["fields"]) == [name]
    assert "2 times" in detail["message"]
