"""Quill's own FHIR R4 endpoint ``/fhir/r4/`` (IHE MHD Document Responder), over real HTTP handling.

Where the bytes do not matter, documents are created directly as model rows (``_row``);
where they do (Binary reads, the third-party client), through the real ``document_upload``
service into a temporary folder (``_uploaded``). Real PostgreSQL; nothing is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhirpy import SyncFHIRClient
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.services import UploadRequest, document_upload
from apps.fhir import codes
from apps.files.spooling import spool
from apps.patients.models import CareTeamMember
from quill.celery import app as celery_app
from tests.documents import samples
from tests.documents.helpers import document_row
from tests.factories import VALID_NHS_NUMBERS, make_patient, token_client

PUBLIC_BASE = "https://quill.example.test"
FHIR = "/fhir/r4"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def public_base(settings):
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_FHIR_BASE_URL = ""  # no outbound sync in these tests
    return PUBLIC_BASE


@pytest.fixture
def api(clinician, public_base):
    return token_client(clinician, keyword="Bearer")


def _uploaded(user, patient, data: bytes, *, category="lab", title="Discharge summary") -> Document:
    """A document through the real upload service; the scanner is off, so it is available at once."""
    item = UploadRequest(
        spooled=spool([data], max_bytes=len(data) + 1), filename="summary.pdf", category=category, title=title
    )
    return document_upload(actor=user, patient=patient, item=item)


def _ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def _search(api, **params):
    response = api.get(f"{FHIR}/DocumentReference", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    return bundle


def _outcome(response, status: int, issue_code: str, error_code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    issue = body["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", issue_code)
    if error_code is not None:
        assert issue["details"]["coding"][0] == {"system": "urn:quill:error-code", "code": error_code}
    return body


def _link(bundle: dict, relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _local(url: str) -> str:
    assert url.startswith(PUBLIC_BASE + FHIR)
    return url[len(PUBLIC_BASE) :]


# --- metadata and authentication -----------------------------------------------------------------


@pytest.mark.django_db
def test_metadata_is_public_and_describes_the_document_responder(public_base):
    response = APIClient().get(f"{FHIR}/metadata")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["instantiates"] == [
        codes.MHD_DOCUMENT_RESPONDER_CAPABILITY,
        codes.MHD_DOCUMENT_RECIPIENT_CAPABILITY,
    ]
    assert statement["implementation"]["url"] == f"{PUBLIC_BASE}/fhir/r4"
    resources = {resource["type"]: resource for resource in statement["rest"][0]["resource"]}
    assert set(resources) == {"DocumentReference", "Binary", "Patient", "List"}
    assert [interaction["code"] for interaction in statement["rest"][0]["interaction"]] == ["transaction"]
    names = {param["name"] for param in resources["DocumentReference"]["searchParam"]}
    assert {"patient", "patient.identifier", "status", "category", "type", "date", "identifier", "_id"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "error_code"),
    [(None, "not_authenticated"), ("Bearer not-a-real-token", "authentication_failed")],
    ids=["no-credentials", "unknown-token"],
)
def test_unauthenticated_requests_get_401_as_operation_outcome(public_base, header, error_code):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(f"{FHIR}/DocumentReference")

    _outcome(response, 401, "login", error_code)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_both_token_keywords_are_accepted(clinician, patient, public_base, keyword):
    document_row(patient, clinician)
    bundle = _search(token_client(clinician, keyword=keyword), patient=str(patient.pk))
    assert bundle["total"] == 1


@pytest.mark.django_db
def test_an_unknown_path_is_an_operation_outcome(api):
    _outcome(api.get(f"{FHIR}/Observation"), 404, "not-found", "not_supported")


# --- DocumentReference search (ITI-67) -----------------------------------------------------------


@pytest.mark.django_db
def test_search_by_patient_returns_their_documents_as_a_searchset(api, clinician, patient, organisation):
    mine = document_row(patient, clinician, title="Blood count")
    document_row(make_patient(organisation), clinician, title="Someone else's")

    bundle = _search(api, patient=f"Patient/{patient.pk}")

    assert bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == f"{PUBLIC_BASE}/fhir/r4/DocumentReference/{mine.pk}"
    assert entry["search"] == {"mode": "match"}
    resource = entry["resource"]
    DocumentReference.model_validate(resource)
    assert resource["id"] == str(mine.pk)
    assert resource["status"] == "current"
    assert resource["subject"]["reference"] == f"Patient/{patient.pk}"
    assert resource["content"][0]["attachment"]["url"] == f"{PUBLIC_BASE}/fhir/r4/Binary/{mine.pk}"
    assert resource["content"][0]["attachment"]["hash"] == base64.b64encode(bytes.fromhex("a" * 40)).decode()
    assert _link(bundle, "self").startswith(f"{PUBLIC_BASE}/fhir/r4/DocumentReference?patient=Patient/{patient.pk}")


@pytest.mark.django_db
def test_an_empty_search_is_a_200_bundle_with_total_zero(api, patient):
    bundle = _search(api, patient=str(patient.pk))
    assert bundle["total"] == 0
    assert "entry" not in bundle


@pytest.fixture
def search_documents(clinician, patient, organisation):
    """Four documents of `patient` (rows) with known categories, dates and versions, and one of another patient."""
    old = document_row(
        patient, clinician, category="lab", title="Old", uploaded_at=datetime(2024, 1, 10, 9, 0, tzinfo=LONDON)
    )
    letter = document_row(patient, clinician, category="letter", uploaded_at=datetime(2024, 2, 20, 9, 0, tzinfo=LONDON))
    replaced = document_row(
        patient, clinician, category="imaging", uploaded_at=datetime(2024, 3, 1, 9, 0, tzinfo=LONDON)
    )
    Document.objects.filter(pk=replaced.pk).update(is_current=False)
    newer = document_row(
        patient,
        clinician,
        category="imaging",
        uploaded_at=datetime(2024, 3, 2, 9, 0, tzinfo=LONDON),
        lineage_id=replaced.lineage_id,
        version_number=2,
        supersedes=replaced,
    )
    other = document_row(
        make_patient(organisation), clinician, category="lab", uploaded_at=datetime(2024, 1, 1, tzinfo=LONDON)
    )
    Document.objects.filter(pk=old.pk).update(updated_at=datetime(2024, 1, 10, 9, 0, tzinfo=LONDON))
    return {"old": old, "letter": letter, "replaced": replaced, "newer": newer, "other": other}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "current"}, ["newer", "letter", "old"]),
        ({"status": "superseded"}, ["replaced"]),
        ({"status": "current,superseded"}, ["newer", "replaced", "letter", "old"]),
        ({"status": "entered-in-error"}, []),
        ({"category": "letter"}, ["letter"]),
        ({"category": "urn:quill:category|imaging"}, ["newer", "replaced"]),
        ({"category": "http://loinc.org|letter"}, []),
        ({"type": "http://loinc.org|11502-2"}, ["old"]),
        ({"type": "urn:quill:category|letter"}, ["letter"]),
        ({"type": "18748-4"}, ["newer", "replaced"]),
        ({"date": "2024-02"}, ["letter"]),
        ({"date": "ge2024-03-01"}, ["newer", "replaced"]),
        ({"date": "le2024-01-31"}, ["old"]),
        ({"date": "gt2024-03-01"}, ["newer"]),
        ({"date": "lt2024-02-20T09:00:00Z"}, ["old"]),
        ({"date": "2024-03-02T09:00:00+00:00"}, ["newer"]),
        ({"_lastUpdated": "le2024-01-31"}, ["old"]),
    ],
    ids=lambda value: str(value) if not isinstance(value, dict) else "&".join(f"{k}={v}" for k, v in value.items()),
)
def test_search_parameters(api, patient, search_documents, params, expected):
    bundle = _search(api, patient=str(patient.pk), **params)

    assert _ids(bundle) == [str(search_documents[name].pk) for name in expected]
    assert bundle["total"] == len(expected)


@pytest.mark.django_db
def test_search_by_date_range_combines_both_bounds(api, patient, search_documents):
    response = api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&date=ge2024-02-01&date=le2024-03-01")
    assert response.status_code == 200
    assert _ids(response.json()) == [str(search_documents["replaced"].pk), str(search_documents["letter"].pk)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "identifier",
    ["nhs", "mrn", "quill-patient", "bare-nhs-number"],
)
def test_search_by_patient_identifier(api, patient, search_documents, identifier):
    value = {
        "nhs": f"{codes.NHS_NUMBER_SYSTEM}|{patient.nhs_number}",
        "mrn": f"{codes.QUILL_MRN_SYSTEM}|{patient.mrn.lower()}",
        "quill-patient": f"{codes.QUILL_PATIENT_SYSTEM}|{patient.pk}",
        "bare-nhs-number": patient.nhs_number,
    }[identifier]

    bundle = _search(api, **{"patient.identifier": value, "status": "current"})

    assert sorted(_ids(bundle)) == sorted(str(search_documents[name].pk) for name in ("newer", "letter", "old"))


@pytest.mark.django_db
def test_search_by_an_unknown_patient_identifier_finds_nothing(api, search_documents):
    assert _search(api, **{"patient.identifier": f"{codes.NHS_NUMBER_SYSTEM}|{VALID_NHS_NUMBERS[4]}"})["total"] == 0
    assert _search(api, **{"patient.identifier": "urn:example:other|123"})["total"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "form",
    ["quill-document", "uri", "bare", "_id"],
)
def test_search_by_document_identifier_and_id(api, search_documents, form):
    document = search_documents["letter"]
    params = {
        "quill-document": {"identifier": f"{codes.QUILL_DOCUMENT_SYSTEM}|{document.pk}"},
        "uri": {"identifier": f"{codes.URI_SYSTEM}|urn:uuid:{document.pk}"},
        "bare": {"identifier": str(document.pk)},
        "_id": {"_id": str(document.pk)},
    }[form]

    assert _ids(_search(api, **params)) == [str(document.pk)]


@pytest.mark.django_db
def test_search_leaves_out_documents_that_are_not_clean_or_are_deleted(api, clinician, administrator, patient):
    clean = document_row(patient, clinician)
    document_row(patient, clinician, scan_status=ScanStatus.PENDING)
    document_row(patient, clinician, scan_status=ScanStatus.INFECTED)
    document_row(
        patient, clinician, deleted_at=timezone.now(), deleted_by=administrator, deleted_reason="Wrong patient"
    )

    assert _ids(_search(api, patient=str(patient.pk))) == [str(clean.pk)]


@pytest.mark.django_db
def test_paging_with_count_next_and_previous(api, clinician, patient):
    start = timezone.now() - timedelta(days=1)
    documents = [document_row(patient, clinician, uploaded_at=start + timedelta(minutes=n)) for n in range(5)]
    newest_first = [str(document.pk) for document in reversed(documents)]

    first = _search(api, patient=str(patient.pk), _count="2")
    assert (first["total"], _ids(first)) == (5, newest_first[:2])
    assert _link(first, "previous") is None

    second = api.get(_local(_link(first, "next"))).json()
    assert (second["total"], _ids(second)) == (5, newest_first[2:4])
    assert "_offset" not in parse_qs(urlsplit(_link(second, "next")).query)
    assert _ids(api.get(_local(_link(second, "previous"))).json()) == newest_first[:2]

    third = api.get(_local(_link(second, "next"))).json()
    assert _ids(third) == newest_first[4:]
    assert _link(third, "next") is None
    back = api.get(_local(_link(third, "previous"))).json()
    assert _ids(back) == newest_first[2:4]
    assert _ids(api.get(_local(_link(back, "previous"))).json()) == newest_first[:2]


@pytest.mark.django_db
def test_count_defaults_to_20_and_is_capped_at_100(api, clinician, patient):
    for _ in range(21):
        document_row(patient, clinician)
    default = _search(api, patient=str(patient.pk))
    assert (default["total"], len(default["entry"])) == (21, 20)
    assert "_count=20" in _link(default, "self")
    capped = _search(api, patient=str(patient.pk), _count="500")
    assert "_count=100" in _link(capped, "self")
    only_total = _search(api, patient=str(patient.pk), _count="0")
    assert (only_total["total"], "entry" in only_total) == (21, False)


@pytest.mark.django_db
def test_search_costs_the_same_number_of_queries_for_any_page_size(api, clinician, patient, organisation):
    few, many = make_patient(organisation), make_patient(organisation)
    for _ in range(2):
        document_row(few, clinician)
    for _ in range(15):
        document_row(many, clinician)
    _search(api, patient=str(few.pk))  # warm-up: token last-used stamp, chain head

    with CaptureQueriesContext(connection) as small:
        assert len(_search(api, patient=str(few.pk))["entry"]) == 2
    with CaptureQueriesContext(connection) as large:
        assert len(_search(api, patient=str(many.pk))["entry"]) == 15

    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "date=ne2024-01-01",
        "date=2024-13-01",
        "date=2024-01-01T10:00",
        "status=final",
        "_count=many",
        "patient=Group/123",
        "status:not=current",
        "_offset=20",
        "_sort=title",
        "_summary=maybe",
        "_elements=nonsense",
    ],
)
def test_bad_search_parameters_are_a_400_operation_outcome(api, query):
    _outcome(api.get(f"{FHIR}/DocumentReference?{query}"), 400, "invalid", "invalid_search_parameter")


@pytest.mark.django_db
def test_unknown_parameters_are_flagged_unless_the_client_asks_for_strict_handling(api, clinician, patient):
    document_row(patient, clinician)

    lenient = api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&_text=discharge")
    assert lenient.status_code == 200
    assert "_text" not in _link(lenient.json(), "self")
    (outcome,) = [entry for entry in lenient.json()["entry"] if entry["search"]["mode"] == "outcome"]
    assert outcome["resource"]["issue"][0]["severity"] == "warning"

    strict = api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&_text=discharge", HTTP_PREFER="handling=strict")
    _outcome(strict, 400, "invalid", "invalid_search_parameter")


@pytest.mark.django_db
def test_a_search_is_audited_once_with_its_criteria(api, clinician, patient):
    document = document_row(patient, clinician)

    _search(api, patient=str(patient.pk))

    event = AuditEvent.objects.filter(action="fhir.search").get()
    assert event.actor_id == clinician.pk
    assert str(event.patient_id) == str(patient.pk)
    assert event.details["criteria"] == {"patient": [str(patient.pk)]}
    assert event.details["returned"] == [str(document.pk)]


# --- Isolation and roles -------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_organisation_sees_nothing_and_gets_404s(clinician, patient, other_clinician, public_base):
    document = document_row(patient, clinician)
    outsider = token_client(other_clinician)

    assert _search(outsider, patient=str(patient.pk))["total"] == 0
    assert _search(outsider, **{"patient.identifier": patient.nhs_number})["total"] == 0
    _outcome(outsider.get(f"{FHIR}/DocumentReference/{document.pk}"), 404, "not-found")
    _outcome(outsider.get(f"{FHIR}/Binary/{document.pk}"), 404, "not-found")
    _outcome(outsider.get(f"{FHIR}/Patient/{patient.pk}"), 404, "not-found")
    assert AuditEvent.objects.filter(action="access.denied", actor_id=other_clinician.pk).exists()


@pytest.mark.django_db
def test_billing_staff_see_only_insurance_documents(clinician, billing_user, patient, public_base):
    insurance = document_row(patient, clinician, category="insurance")
    lab = document_row(patient, clinician, category="lab")
    billing = token_client(billing_user)

    assert _ids(_search(billing, patient=str(patient.pk))) == [str(insurance.pk)]
    assert billing.get(f"{FHIR}/DocumentReference/{insurance.pk}").status_code == 200
    _outcome(billing.get(f"{FHIR}/DocumentReference/{lab.pk}"), 403, "forbidden", "permission_denied")
    _outcome(billing.get(f"{FHIR}/Binary/{lab.pk}"), 403, "forbidden")


@pytest.mark.django_db
def test_a_restricted_record_is_hidden_from_users_outside_its_care_team(api, clinician, organisation, public_base):
    restricted = make_patient(organisation, restricted=True)
    document = document_row(restricted, clinician)

    assert _search(api, patient=str(restricted.pk))["total"] == 0
    _outcome(api.get(f"{FHIR}/DocumentReference/{document.pk}"), 403, "forbidden", "break_glass_required")

    CareTeamMember.objects.create(patient=restricted, user=clinician)
    assert _search(api, patient=str(restricted.pk))["total"] == 1


# --- DocumentReference read ----------------------------------------------------------------------


@pytest.mark.django_db
def test_read_a_document_reference_is_audited(api, clinician, patient):
    document = document_row(patient, clinician, encounter_id="ENC-42")

    response = api.get(f"{FHIR}/DocumentReference/{document.pk}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    resource = response.json()
    DocumentReference.model_validate(resource)
    assert resource["id"] == str(document.pk)
    assert resource["context"]["encounter"][0]["identifier"]["value"] == "ENC-42"
    event = AuditEvent.objects.filter(action="document.viewed").get()
    assert (event.object_id, event.details) == (str(document.pk), {"channel": "fhir"})


@pytest.mark.django_db
def test_read_a_superseded_version_carries_its_status(api, clinician, patient):
    old = document_row(patient, clinician, is_current=False)
    new = document_row(patient, clinician, lineage_id=old.lineage_id, version_number=2, supersedes=old)

    assert api.get(f"{FHIR}/DocumentReference/{old.pk}").json()["status"] == "superseded"
    replacing = api.get(f"{FHIR}/DocumentReference/{new.pk}").json()
    assert replacing["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old.pk}"}}]
    assert api.get(f"{FHIR}/{replacing['relatesTo'][0]['target']['reference']}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "status", "issue_code", "error_code"),
    [
        ("unknown", 404, "not-found", "not_found"),
        ("malformed", 404, "not-found", "not_found"),
        ("deleted", 410, "deleted", "document_deleted"),
        ("pending", 409, "conflict", "scan_pending"),
        ("quarantined", 409, "conflict", "quarantined"),
    ],
)
@pytest.mark.parametrize("resource_type", ["DocumentReference", "Binary"])
def test_reads_of_unavailable_documents(
    api, clinician, administrator, patient, resource_type, state, status, issue_code, error_code
):
    if state == "unknown":
        resource_id = str(uuid.uuid4())
    elif state == "malformed":
        resource_id = "not-a-document"
    else:
        fields = {
            "deleted": {"deleted_at": timezone.now(), "deleted_by": administrator, "deleted_reason": "Wrong patient"},
            "pending": {"scan_status": ScanStatus.PENDING},
            "quarantined": {"scan_status": ScanStatus.INFECTED},
        }[state]
        resource_id = str(document_row(patient, clinician, **fields).pk)

    _outcome(api.get(f"{FHIR}/{resource_type}/{resource_id}"), status, issue_code, error_code)


# --- Binary (ITI-68) -----------------------------------------------------------------------------


@pytest.fixture
def uploads(settings, filesystem_storage, public_base):
    settings.QUILL_SCANNER = "none"
    return filesystem_storage


@pytest.mark.django_db
def test_binary_serves_the_raw_bytes_with_their_content_type(api, uploads, clinician, patient):
    data = samples.pdf(2)
    document = _uploaded(clinician, patient, data)

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT="*/*")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == data
    assert response["X-Content-Type-Options"] == "nosniff"
    assert AuditEvent.objects.filter(action="document.downloaded", object_id=str(document.pk)).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["application/fhir+json", "application/json"])
def test_binary_as_a_fhir_resource_when_fhir_json_is_asked_for(api, uploads, clinician, patient, accept):
    data = samples.pdf(1)
    document = _uploaded(clinician, patient, data)

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    binary = response.json()
    assert (binary["resourceType"], binary["id"], binary["contentType"]) == (
        "Binary",
        str(document.pk),
        "application/pdf",
    )
    assert base64.b64decode(binary["data"]) == data
    event = AuditEvent.objects.filter(action="document.downloaded").get()
    assert event.details == {"channel": "fhir", "format": "fhir+json"}


@pytest.mark.django_db
def test_binary_refuses_bytes_that_no_longer_match(api, uploads, clinician, patient):
    document = _uploaded(clinician, patient, samples.pdf(1))
    (uploads / document.storage_key).write_bytes(b"%PDF-1.4 tampered")

    response = api.get(f"{FHIR}/Binary/{document.pk}", HTTP_ACCEPT="application/fhir+json")

    _outcome(response, 409, "conflict", "document_corrupt")
    document.refresh_from_db()
    assert document.integrity == "corrupt"


# --- Patient -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_read_a_patient(api, patient):
    response = api.get(f"{FHIR}/Patient/{patient.pk}")

    assert response.status_code == 200
    resource = response.json()
    FhirPatient.model_validate(resource)
    assert resource["id"] == str(patient.pk)
    assert {"use": "official", "system": codes.NHS_NUMBER_SYSTEM, "value": patient.nhs_number} in resource["identifier"]
    assert AuditEvent.objects.filter(action="patient.viewed", details__channel="fhir").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("identifier", "found"),
    [
        (f"{codes.NHS_NUMBER_SYSTEM}|{VALID_NHS_NUMBERS[0]}", True),
        (VALID_NHS_NUMBERS[0], True),
        (f"{codes.NHS_NUMBER_SYSTEM}|{VALID_NHS_NUMBERS[3]}", False),
        ("urn:example:other|whatever", False),
    ],
    ids=["nhs-number", "bare-value", "unknown-number", "unknown-system"],
)
def test_search_patients_by_identifier(api, patient, identifier, found):
    response = api.get(f"{FHIR}/Patient", {"identifier": identifier})

    assert response.status_code == 200
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert _ids(bundle) == ([str(patient.pk)] if found else [])
    assert AuditEvent.objects.filter(action="fhir.search", details__resource="Patient").count() == 1


@pytest.mark.django_db
def test_unknown_patient_is_404(api):
    _outcome(api.get(f"{FHIR}/Patient/{uuid.uuid4()}"), 404, "not-found")


# --- A third-party client ------------------------------------------------------------------------


@pytest.fixture
def inline_tasks():
    """Run the upload's follow-up tasks inline instead of sending them to the shared Redis broker."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.mark.django_db(transaction=True)
def test_fhirpy_finds_a_patients_documents_and_downloads_one(
    live_server, settings, filesystem_storage, inline_tasks, clinician, patient
):
    settings.QUILL_PUBLIC_BASE_URL = live_server.url
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_SCANNER = "none"
    payloads = {
        "Discharge summary": samples.pdf(3, title="Discharge summary"),
        "Clinic letter": samples.pdf(1, title="Clinic letter"),
        "Referral": samples.pdf(2, title="Referral"),
    }
    for title, data in payloads.items():
        _uploaded(clinician, patient, data, title=title)
    document_row(make_patient(patient.organisation), clinician, title="Not this patient")
    _, key = api_token_create(user=clinician, name="fhirpy")
    client = SyncFHIRClient(f"{live_server.url}/fhir/r4", authorization=f"Bearer {key}")

    found = client.resources("Patient").search(identifier=f"{codes.NHS_NUMBER_SYSTEM}|{patient.nhs_number}").fetch()
    assert [resource.id for resource in found] == [str(patient.pk)]
    documents = client.resources("DocumentReference").search(patient=found[0], status="current").limit(2).fetch_all()

    assert sorted(document["content"][0]["attachment"]["title"] for document in documents) == sorted(payloads)
    chosen = documents[0]
    attachment = chosen["content"][0]["attachment"]
    download = requests.get(attachment["url"], headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == attachment["contentType"]
    assert len(download.content) == attachment["size"]
    assert base64.b64encode(hashlib.sha1(download.content).digest()).decode() == attachment["hash"]
    assert download.content == payloads[attachment["title"]]
