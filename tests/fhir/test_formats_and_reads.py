"""FHIR formats (JSON, XML, 406), versioned reads (ETag, Last-Modified, 304, vread), Binary by Accept, base URLs."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from django.utils.http import http_date
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.documents.services import UploadRequest, document_upload
from apps.fhir.models import SubmissionSet, SubmissionSetEntry
from apps.files.spooling import spool
from tests.documents import samples
from tests.documents.helpers import document_row
from tests.factories import token_client

PUBLIC_BASE = "https://quill.example.test"
FHIR = "/fhir/r4"
XML = "application/fhir+xml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(clinician, settings):
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_FHIR_BASE_URL = ""
    return token_client(clinician, keyword="Bearer")


@pytest.fixture
def uploads(settings, filesystem_storage):
    settings.QUILL_SCANNER = "none"
    return filesystem_storage


def _uploaded(user, patient, data: bytes) -> Document:
    item = UploadRequest(
        spooled=spool([data], max_bytes=len(data) + 1), filename="summary.pdf", category="lab", title="Summary"
    )
    return document_upload(actor=user, patient=patient, item=item)


def _submission_set(clinician, patient) -> SubmissionSet:
    """A received SubmissionSet (as ITI-65 stores one) holding one document."""
    document = document_row(patient, clinician)
    submission_set = SubmissionSet.objects.create(
        organisation=patient.organisation,
        patient=patient,
        unique_id="urn:oid:2.25.1",
        source_id="urn:oid:1.2.3",
        submitted_at=timezone.now(),
        received_by=clinician,
        response={},
    )
    SubmissionSetEntry.objects.create(
        document=document,
        submission_set=submission_set,
        organisation=patient.organisation,
        master_identifier_system="urn:ietf:rfc:3986",
        master_identifier_value="urn:oid:2.25.2",
        position=1,
    )
    return submission_set


def _read_target(resource_type: str, clinician, patient) -> str:
    """The id of one readable resource of ``resource_type``."""
    if resource_type == "DocumentReference":
        return str(document_row(patient, clinician).pk)
    if resource_type == "List":
        return str(_submission_set(clinician, patient).pk)
    return str(patient.pk)


def _error_code(body: dict) -> str:
    return body["issue"][0]["details"]["coding"][0]["code"]


# --- XML -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("", XML),
        ("_format=xml", ""),
        ("_format=application/fhir%2Bxml", "application/fhir+json"),
        ("", "application/xml"),
    ],
    ids=["accept", "format-xml", "format-wins-over-accept", "accept-application-xml"],
)
def test_a_search_answers_in_xml_when_asked(api, clinician, patient, query, accept):
    document = document_row(patient, clinician)

    response = api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&{query}", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == f"{XML}; charset=utf-8"
    bundle = Bundle.model_validate_xml(response.content)
    assert bundle.total == 1 and bundle.entry[0].resource.id == str(document.pk)
    assert "Accept" in response["Vary"]


def test_reads_and_metadata_answer_in_xml(api, clinician, patient):
    document = document_row(patient, clinician)

    reference = DocumentReference.model_validate_xml(
        api.get(f"{FHIR}/DocumentReference/{document.pk}", HTTP_ACCEPT=XML).content
    )
    person = FhirPatient.model_validate_xml(api.get(f"{FHIR}/Patient/{patient.pk}?_format=xml").content)
    statement = CapabilityStatement.model_validate_xml(APIClient().get(f"{FHIR}/metadata", HTTP_ACCEPT=XML).content)

    assert reference.id == str(document.pk) and reference.content[0].attachment.url.startswith(PUBLIC_BASE)
    assert person.id == str(patient.pk)
    assert "application/fhir+xml" in statement.format


def test_an_error_under_an_xml_request_is_an_xml_operation_outcome(api):
    response = api.get(f"{FHIR}/DocumentReference?date=2024-13-01", HTTP_ACCEPT=XML)

    assert response.status_code == 400 and response["Content-Type"].startswith(XML)
    outcome = OperationOutcome.model_validate_xml(response.content)
    assert outcome.issue[0].details.coding[0].code == "invalid_search_parameter"


def test_pretty_printing(api, patient):
    assert b"\n  " in api.get(f"{FHIR}/Patient/{patient.pk}?_pretty=true").content
    assert b"\n  " in api.get(f"{FHIR}/Patient/{patient.pk}?_pretty=true&_format=xml").content
    assert b"\n" not in api.get(f"{FHIR}/Patient/{patient.pk}").content.strip()


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("", "text/html"),
        ("", "text/csv, application/pdf;q=0.5"),
        ("_format=text/turtle", ""),
        ("", "application/fhir+xml;q=0"),
    ],
    ids=["html", "csv-or-pdf", "format-turtle", "xml-refused-by-q0"],
)
def test_a_format_quill_cannot_produce_is_406_never_json_in_its_place(api, patient, query, accept):
    response = api.get(f"{FHIR}/Patient?{query}", HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert _error_code(response.json()) == "not_acceptable"


def test_no_accept_or_a_wildcard_is_json(api, patient):
    for accept in ("", "*/*", "application/*", "text/html, */*;q=0.1"):
        response = api.get(f"{FHIR}/Patient/{patient.pk}", HTTP_ACCEPT=accept)
        assert response["Content-Type"].startswith("application/fhir+json"), accept


# --- Versioned reads -----------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", ["DocumentReference", "Patient", "List"])
def test_a_read_carries_etag_and_last_modified_and_a_matching_conditional_read_is_304(
    api, clinician, patient, resource_type
):
    resource_id = _read_target(resource_type, clinician, patient)
    url = f"{FHIR}/{resource_type}/{resource_id}"

    response = api.get(url)
    body = response.json()

    assert response["ETag"] == f'W/"{body["meta"]["versionId"]}"'
    assert response["Last-Modified"] == http_date(
        int(timezone.datetime.fromisoformat(body["meta"]["lastUpdated"]).timestamp())
    )
    assert api.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH=f'"{body["meta"]["versionId"]}", W/"other"').status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH='W/"1"').status_code == 200
    assert api.get(url, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]).status_code == 304
    earlier = http_date((timezone.now() - timedelta(days=1)).timestamp())
    assert api.get(url, HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200
    not_modified = api.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert not_modified.content == b"" and not_modified["ETag"] == response["ETag"]


def test_a_changed_document_gets_a_new_version_and_etag(api, clinician, patient):
    document = document_row(patient, clinician)
    url = f"{FHIR}/DocumentReference/{document.pk}"
    before = api.get(url)

    Document.objects.filter(pk=document.pk).update(title="Renamed", updated_at=timezone.now() + timedelta(seconds=2))
    after = api.get(url, HTTP_IF_NONE_MATCH=before["ETag"])

    assert after.status_code == 200 and after["ETag"] != before["ETag"]


def test_a_list_gets_a_new_version_when_one_of_its_documents_changes_or_leaves_it(api, clinician, patient):
    # given a received SubmissionSet and its current version
    submission_set = _submission_set(clinician, patient)
    url = f"{FHIR}/List/{submission_set.pk}"
    before = api.get(url)
    document_id = before.json()["entry"][0]["item"]["reference"].removeprefix("DocumentReference/")

    # when its document is deleted (it leaves the List: Quill serves no deleted document)
    Document.objects.filter(pk=document_id).update(
        deleted_at=timezone.now(), updated_at=timezone.now() + timedelta(seconds=2)
    )
    after = api.get(url, HTTP_IF_NONE_MATCH=before["ETag"])

    # then the List is a new version, without the entry, and the old version is not kept
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert after.json().get("entry") is None
    assert after["Last-Modified"] != before["Last-Modified"]
    gone = api.get(f"{url}/_history/{before.json()['meta']['versionId']}")
    assert gone.status_code == 404 and _error_code(gone.json()) == "version_not_found"


@pytest.mark.parametrize("resource_type", ["DocumentReference", "Patient", "List"])
def test_vread_of_the_current_version_and_of_one_quill_does_not_keep(api, clinician, patient, resource_type):
    resource_id = _read_target(resource_type, clinician, patient)
    current = api.get(f"{FHIR}/{resource_type}/{resource_id}").json()
    version = current["meta"]["versionId"]

    again = api.get(f"{FHIR}/{resource_type}/{resource_id}/_history/{version}")
    gone = api.get(f"{FHIR}/{resource_type}/{resource_id}/_history/1")

    assert again.status_code == 200 and again.json() == current
    assert again["ETag"] == f'W/"{version}"'
    assert gone.status_code == 404 and _error_code(gone.json()) == "version_not_found"


def test_a_read_takes_summary_and_elements(api, clinician, patient):
    document = document_row(patient, clinician)

    summary = api.get(f"{FHIR}/DocumentReference/{document.pk}?_summary=true").json()
    elements = api.get(f"{FHIR}/Patient/{patient.pk}?_elements=birthDate").json()

    assert "custodian" not in summary and summary["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}


# --- Binary --------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/pdf", "application/*", "*/*", "", "image/png;q=0.5, application/pdf"])
def test_binary_is_raw_when_its_own_type_is_acceptable(api, uploads, clinician, patient, accept):
    document = _uploaded(clinician, patient, samples.pdf(1))

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT=accept)

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("accept", ["image/png", "text/plain, image/*", "application/pdf;q=0"])
def test_binary_is_406_when_neither_its_type_nor_fhir_is_acceptable(api, uploads, clinician, patient, accept):
    document = _uploaded(clinician, patient, samples.pdf(1))

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT=accept)

    assert response.status_code == 406 and response["Content-Type"].startswith("application/fhir+json")
    assert _error_code(response.json()) == "not_acceptable"
    assert not AuditEvent.objects.filter(action="document.downloaded").exists()


def test_binary_as_fhir_xml(api, uploads, clinician, patient):
    data = samples.pdf(1)
    document = _uploaded(clinician, patient, data)

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT=XML)

    assert response.status_code == 200 and response["Content-Type"].startswith(XML)
    binary = Binary.model_validate_xml(response.content)
    assert binary.data == data and binary.contentType == "application/pdf"  # the model decodes the base64
    assert f'<data value="{base64.b64encode(data).decode()}"/>'.encode() in response.content
    assert AuditEvent.objects.get(action="document.downloaded").details == {"channel": "fhir", "format": "fhir+xml"}


def test_a_range_outside_the_binary_is_416_with_an_operation_outcome(api, uploads, clinician, patient):
    document = _uploaded(clinician, patient, samples.pdf(1))

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_RANGE=f"bytes={document.size + 10}-", HTTP_ACCEPT="*/*")

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{document.size}"
    body = response.json()
    OperationOutcome.model_validate(body)
    assert _error_code(body) == "range_not_satisfiable"


# --- Public base URL -----------------------------------------------------------------------------


def test_without_a_configured_base_url_every_link_points_at_the_server_that_was_asked(clinician, patient, settings):
    settings.QUILL_PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = ["fhir.clinic.test"]
    document = document_row(patient, clinician)
    for _ in range(2):
        document_row(patient, clinician)
    api = token_client(clinician)

    bundle = api.get(
        f"{FHIR}/DocumentReference?patient={patient.pk}&_count=2", HTTP_HOST="fhir.clinic.test:8443"
    ).json()
    reference = api.get(f"{FHIR}/DocumentReference/{document.pk}", HTTP_HOST="fhir.clinic.test:8443").json()
    statement = APIClient().get(f"{FHIR}/metadata", HTTP_HOST="fhir.clinic.test:8443").json()

    urls = [link["url"] for link in bundle["link"]] + [entry["fullUrl"] for entry in bundle["entry"]]
    urls += [reference["content"][0]["attachment"]["url"], statement["implementation"]["url"]]
    assert {urlsplit(url).netloc for url in urls} == {"fhir.clinic.test:8443"}
    assert all(url.startswith("http://fhir.clinic.test:8443/fhir/r4/") or url.endswith("/fhir/r4") for url in urls)


def test_a_host_outside_allowed_hosts_is_refused(clinician, patient, settings):
    settings.QUILL_PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = ["fhir.clinic.test"]

    response = token_client(clinician).get(f"{FHIR}/Patient/{patient.pk}", HTTP_HOST="evil.example.test")

    assert response.status_code == 400
    assert "evil.example.test" not in response.content.decode()


def test_a_configured_base_url_wins_over_the_request_host(api, patient, settings):
    settings.ALLOWED_HOSTS = ["internal.local"]

    bundle = api.get(f"{FHIR}/Patient?_id={patient.pk}", HTTP_HOST="internal.local").json()

    assert bundle["entry"][0]["fullUrl"] == f"{PUBLIC_BASE}{FHIR}/Patient/{patient.pk}"
