"""FHIR search never answers a filtered question with unfiltered results.

The patient-safety defect: ``Patient?family=NoSuchName`` returned every patient, and
``DocumentReference?creation=ge…&creation=lt…`` every document, because parameters Quill did
not implement were dropped without a word. Now each is implemented, or named in a warning
OperationOutcome inside the Bundle (lenient, FHIR's default), or refused (``Prefer: handling=strict``).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirpy import SyncFHIRClient

from apps.accounts.services import api_token_create
from apps.fhir.models import MhdSettings
from tests.documents.helpers import document_row
from tests.factories import make_patient, make_user, token_client

FHIR = "/fhir/r4"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(clinician, settings):
    settings.QUILL_PUBLIC_BASE_URL = "https://quill.example.test"
    settings.QUILL_FHIR_BASE_URL = ""
    return token_client(clinician, keyword="Bearer")


@pytest.fixture
def people(organisation, other_organisation):
    """Four patients of the organisation, and a namesake in another organisation who must never show."""
    make_patient(other_organisation, given_name="Ellis", family_name="Marwood", date_of_birth=date(1958, 3, 14))
    return {
        "ellis": make_patient(
            organisation, given_name="Ellis", family_name="Marwood", date_of_birth=date(1958, 3, 14), sex="male"
        ),
        "mary": make_patient(
            organisation, given_name="Mary Ann", family_name="Evans", date_of_birth=date(1819, 11, 22), sex="female"
        ),
        "ada": make_patient(
            organisation, given_name="Ada", family_name="Lovelace", date_of_birth=date(1815, 12, 10), sex="female"
        ),
        "grace": make_patient(
            organisation, given_name="Grace", family_name="Marwoodson", date_of_birth=date(1906, 12, 9), sex="other"
        ),
    }


def _bundle(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    return body


def _matches(body: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in body.get("entry", []) if entry["search"]["mode"] == "match"]


def _outcomes(body: dict) -> list[dict]:
    return [entry["resource"] for entry in body.get("entry", []) if entry["search"]["mode"] == "outcome"]


def _patients(api, query: str) -> set[str]:
    return set(_matches(_bundle(api.get(f"{FHIR}/Patient?{query}"))))


def _ids(people, *names) -> set[str]:
    return {str(people[name].pk) for name in names}


def test_a_family_name_nobody_has_finds_nobody(api, people):
    body = _bundle(api.get(f"{FHIR}/Patient?family=NoSuchName"))

    assert body["total"] == 0 and _matches(body) == [] and _outcomes(body) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("family=marwood", ("ellis", "grace")),
        ("family:exact=Marwood", ("ellis",)),
        ("family:exact=marwood", ()),
        ("family:contains=woods", ("grace",)),
        ("given=ann", ("mary",)),
        ("given=Mary", ("mary",)),
        ("name=lovel", ("ada",)),
        ("name=ellis,ada", ("ellis", "ada")),
        ("family=Marwood&given=Grace", ("grace",)),
        ("birthdate=1958-03-14", ("ellis",)),
        ("birthdate=1958", ("ellis",)),
        ("birthdate=lt1900", ("mary", "ada")),
        ("birthdate=ge1900-01-01", ("ellis", "grace")),
        ("birthdate=gt1958-03-14", ()),
        ("birthdate=le1815-12-10", ("ada",)),
        ("gender=female", ("mary", "ada")),
        ("gender=http://hl7.org/fhir/administrative-gender|other", ("grace",)),
        ("family=Marwood&birthdate=1958-03-14", ("ellis",)),
    ],
)
def test_patient_search_parameters_filter(api, people, query, expected):
    assert _patients(api, query) == _ids(people, *expected)


@pytest.mark.parametrize(
    "query",
    ["gender=woman", "gender=urn:other|female", "birthdate=14/03/1958", "family:missing=true", "family=%20"],
)
def test_bad_patient_search_values_are_refused(api, people, query):
    response = api.get(f"{FHIR}/Patient?{query}")

    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid_search_parameter"


@pytest.fixture
def march_documents(patient, clinician):
    """Three documents with clinical dates in February, March and April 2025."""
    return {
        month: document_row(patient, clinician, title=f"Report {month}", document_date=date(2025, month, 10))
        for month in (2, 3, 4)
    }


def _documents(api, query: str) -> dict:
    return _bundle(api.get(f"{FHIR}/DocumentReference?{query}"))


def test_creation_range_finds_the_one_document_in_it(api, patient, march_documents):
    body = _documents(api, f"patient={patient.pk}&creation=ge2025-03-01&creation=lt2025-04-01")

    assert _matches(body) == [str(march_documents[3].pk)] and body["total"] == 1
    assert _outcomes(body) == []
    query = parse_qs(urlsplit(next(link["url"] for link in body["link"] if link["relation"] == "self")).query)
    assert query["creation"] == ["ge2025-03-01", "lt2025-04-01"]


@pytest.mark.parametrize(
    ("query", "months"),
    [
        ("creation=2025-03", (3,)),
        ("creation=2025-02-10,2025-04-10", (2, 4)),
        ("period=ge2025-03-10", (3, 4)),
        ("creation=gt2025-03-10", (4,)),
        ("creation=le2025-03-10", (2, 3)),
    ],
)
def test_clinical_date_searches(api, patient, march_documents, query, months):
    body = _documents(api, f"patient={patient.pk}&{query}")

    assert set(_matches(body)) == {str(march_documents[month].pk) for month in months}


def test_date_takes_a_comma_separated_or(api, patient, march_documents):
    today = date.today().isoformat()

    assert _documents(api, f"patient={patient.pk}&date=1999-01-01,{today}")["total"] == 3
    assert _documents(api, f"patient={patient.pk}&date=1999-01-01,2000-01-01")["total"] == 0


def test_an_unsupported_parameter_is_named_in_a_warning_and_left_out_of_the_self_link(api, patient, march_documents):
    body = _documents(api, f"patient={patient.pk}&description=Nobody")

    (outcome,) = _outcomes(body)
    (issue,) = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("warning", "not-supported")
    assert issue["details"]["coding"][0]["code"] == "search_parameter_ignored"
    assert "'description'" in issue["diagnostics"] and "NOT filtered" in issue["diagnostics"]
    assert "description" not in next(link["url"] for link in body["link"] if link["relation"] == "self")
    assert body["total"] == 3


def test_strict_handling_refuses_an_unsupported_parameter(api, patient, people):
    response = api.get(f"{FHIR}/Patient?family=Marwood&nickname=El", HTTP_PREFER="handling=strict")

    assert response.status_code == 400
    assert "'nickname'" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.django_db(transaction=True)
def test_fhirpy_filters_patients_by_name_and_documents_by_creation(live_server, settings, clinician, patient, people):
    settings.QUILL_PUBLIC_BASE_URL = live_server.url
    settings.QUILL_FHIR_BASE_URL = ""
    for month in (2, 3, 4):
        document_row(patient, clinician, document_date=date(2025, month, 10))
    _, key = api_token_create(user=clinician, name="fhirpy")
    client = SyncFHIRClient(f"{live_server.url}/fhir/r4", authorization=f"Bearer {key}")

    assert client.resources("Patient").search(family="NoSuchName").fetch() == []
    (found,) = client.resources("Patient").search(family="Marwood", birthdate="1958-03-14").fetch()
    assert found.id == str(people["ellis"].pk)
    march = (
        client.resources("DocumentReference")
        .search(patient=str(patient.pk))
        .search(creation__ge="2025-03-01")
        .search(creation__lt="2025-04-01")
        .fetch_all()
    )
    assert [document["content"][0]["attachment"]["creation"] for document in march] == ["2025-03-10"]


# --- MHD ITI-67 parameters that depend on the mapping ----------------------------------------------


@pytest.fixture
def mhd_documents(organisation, patient):
    """Documents filed by two clinicians; one without a clinical date, one with an encounter."""
    hopper = make_user(organisation, ["clinician"], full_name="Dr Grace Brewster Hopper")
    lamarr = make_user(organisation, ["clinician"], full_name="Hedy Lamarr")
    return {
        "hopper": document_row(patient, hopper, encounter_id="ENC-1"),
        "lamarr": document_row(patient, lamarr),
        "undated": document_row(patient, lamarr, document_date_given=False, document_date=date(2024, 3, 5)),
    }


def _documents_matching(api, patient, query: str) -> set[str]:
    body = _bundle(api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&{query}"))
    assert _outcomes(body) == [], "the parameter was ignored rather than applied"
    return set(_matches(body))


def _doc_ids(documents, *names) -> set[str]:
    return {str(documents[name].pk) for name in names}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("author.family=Hopper", ["hopper"]),
        ("author.family=hop", ["hopper"]),
        ("author.family=Grace", []),  # a given name is not the family name
        ("author.family:exact=hopper", []),
        ("author.family:contains=amar", ["lamarr", "undated"]),
        ("author.given=Brew", ["hopper"]),
        ("author.given=Hedy", ["lamarr", "undated"]),
        ("author.given=Lamarr", []),  # the family name is not a given name
        ("author.given:exact=Grace", ["hopper"]),
    ],
    ids=str,
)
def test_author_name_parts_search_the_contained_practitioner(api, patient, mhd_documents, query, expected):
    assert _documents_matching(api, patient, query) == _doc_ids(mhd_documents, *expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("facility=http://snomed.info/sct|35971002", ["hopper", "lamarr", "undated"]),
        ("facility=22232009", []),
        ("setting=394802001", ["hopper", "lamarr", "undated"]),
        ("setting=http://loinc.org|394802001", []),
        ("security-label=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N", ["hopper", "lamarr", "undated"]),
        ("security-label=R", []),
        ("format=urn:ihe:iti:xds:2017:mimeTypeSufficient", ["hopper", "lamarr", "undated"]),
        ("format=urn:ihe:iti:xds:2017:NoSuchFormat", []),
        ("event=http://snomed.info/sct|73761001", []),
        ("related:identifier=urn:quill:encounter|ENC-1", ["hopper"]),
        ("related:identifier=ENC-2", []),
        ("related=Encounter/ENC-1", []),
        ("creation=2024-03-05", ["hopper", "lamarr"]),  # no clinical date given: no creation to match
        ("period=ge2024", ["hopper", "lamarr"]),
    ],
    ids=str,
)
def test_mhd_token_parameters_are_applied_to_the_default_settings(api, patient, mhd_documents, query, expected):
    assert _documents_matching(api, patient, query) == _doc_ids(mhd_documents, *expected)


def test_facility_and_setting_follow_the_organisations_mhd_settings(api, organisation, patient, mhd_documents):
    MhdSettings.objects.create(
        organisation=organisation, facility_type_code="22232009", facility_type_display="Hospital", confidentiality="R"
    )

    assert _documents_matching(api, patient, "facility=22232009") == _doc_ids(
        mhd_documents, "hopper", "lamarr", "undated"
    )
    assert _documents_matching(api, patient, "facility=35971002") == set()
    assert _documents_matching(api, patient, "security-label=R") == _doc_ids(
        mhd_documents, "hopper", "lamarr", "undated"
    )
    served = api.get(f"{FHIR}/DocumentReference/{mhd_documents['hopper'].pk}").json()
    assert served["context"]["facilityType"]["coding"][0]["code"] == "22232009"
    assert served["securityLabel"][0]["coding"][0]["code"] == "R"


def test_an_unknown_modifier_on_an_mhd_parameter_is_refused(api, patient):
    response = api.get(f"{FHIR}/DocumentReference?facility:not=35971002")

    assert response.status_code == 400
