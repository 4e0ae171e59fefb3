"""Helpers for Quill's own /fhir/r4/ endpoint (responder) and the in-test FHIR server's own rules."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
import requests
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from apps.fhir.errors import InvalidSearchParameter
from apps.fhir.mapping import check_codes, document_reference
from apps.fhir.responder import (
    DateParam,
    TokenParam,
    binary_resource,
    capability_statement,
    parse_date_param,
    parse_token_param,
    searchset_bundle,
)
from apps.fhir.search import _RESULT_PARAMS, DOCUMENT_SEARCH, LIST_SEARCH, PATIENT_SEARCH, SEARCHES
from apps.fhir.selectors import (
    _DOCUMENT_CONDITIONS,
    _LIST_CONDITIONS,
    _PATIENT_CONDITIONS,
    DOCUMENT_ORDERING,
    LIST_ORDERING,
    PATIENT_ORDERING,
)
from tests.fhir.fhir_server import FhirTestServer
from tests.fhir.test_mapping import BASE_URL, make_document

UTC = dt.UTC
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))
MINUS_FIVE = dt.timezone(dt.timedelta(hours=-5))

# --- CapabilityStatement ---------------------------------------------------------------------------


def test_capability_statement_is_a_valid_r4_mhd_document_responder() -> None:
    statement = capability_statement(BASE_URL, software_version="1.2.3")

    CapabilityStatement.model_validate(statement)
    check_codes(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["instantiates"] == [
        "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder",
        "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient",
    ]
    assert statement["software"] == {"name": "Quill", "version": "1.2.3"}
    assert statement["implementation"]["url"] == f"{BASE_URL}/fhir/r4"
    assert {"application/fhir+json", "application/fhir+xml"} <= set(statement["format"])
    (rest,) = statement["rest"]
    assert rest["mode"] == "server"
    assert "token" in rest["security"]["description"]


def test_capability_statement_declares_the_supported_interactions_and_search_params() -> None:
    statement = capability_statement(BASE_URL, software_version="1.2.3", date=dt.datetime(2024, 1, 1, tzinfo=UTC))

    resources = {entry["type"]: entry for entry in statement["rest"][0]["resource"]}
    assert statement["date"] == "2024-01-01T00:00:00Z"
    assert set(resources) == {"DocumentReference", "Binary", "Patient", "List"}
    assert [i["code"] for i in statement["rest"][0]["interaction"]] == ["transaction"]
    assert [i["code"] for i in resources["DocumentReference"]["interaction"]] == ["read", "vread", "search-type"]
    assert [i["code"] for i in resources["List"]["interaction"]] == ["read", "vread", "search-type"]
    assert [i["code"] for i in resources["Binary"]["interaction"]] == ["read"]
    assert [i["code"] for i in resources["Patient"]["interaction"]] == ["read", "vread", "search-type"]
    for read in (resources["DocumentReference"], resources["Patient"], resources["List"]):
        assert (read["versioning"], read["readHistory"], read["conditionalRead"]) == (
            "versioned",
            False,
            "full-support",
        )
    assert set(resources["DocumentReference"]["searchInclude"]) == set(DOCUMENT_SEARCH.includes)
    assert "searchInclude" not in resources["Patient"]
    # What is declared is exactly what the parser applies (anything else is flagged or refused).
    result_params = set(_RESULT_PARAMS) - {"_include", "_cursor"}
    assert {p["name"] for p in resources["DocumentReference"]["searchParam"]} == set(DOCUMENT_SEARCH.params) | (
        result_params
    )
    assert {p["name"] for p in resources["Patient"]["searchParam"]} == set(PATIENT_SEARCH.params) | result_params
    assert {p["name"] for p in resources["List"]["searchParam"]} == set(LIST_SEARCH.params) | result_params
    mhd_iti67 = {"author.given", "author.family", "event", "facility", "setting", "security-label", "format", "related"}
    assert mhd_iti67 <= set(DOCUMENT_SEARCH.params)
    assert {"creation", "period", "date", "patient.identifier"} <= set(DOCUMENT_SEARCH.params)
    assert {"family", "given", "name", "birthdate", "gender", "identifier"} <= set(PATIENT_SEARCH.params)
    assert {"patient", "patient.identifier", "code", "status", "identifier", "date"} <= set(LIST_SEARCH.params)


def test_every_search_parameter_has_a_condition_and_every_sort_key_a_column() -> None:
    # given the parser's tables, when the selectors apply them, then nothing is parsed that cannot be applied
    assert set(_DOCUMENT_CONDITIONS) == set(DOCUMENT_SEARCH.params)
    assert set(_PATIENT_CONDITIONS) == set(PATIENT_SEARCH.params)
    assert set(_LIST_CONDITIONS) == set(LIST_SEARCH.params)
    assert set(DOCUMENT_ORDERING.columns) == DOCUMENT_SEARCH.sorts
    assert set(PATIENT_ORDERING.columns) == PATIENT_SEARCH.sorts
    assert set(LIST_ORDERING.columns) == LIST_SEARCH.sorts
    assert set(SEARCHES) == {"DocumentReference", "Patient", "List"}


# --- searchset Bundle ------------------------------------------------------------------------------


def test_searchset_bundle_with_entries_and_paging_links_is_valid() -> None:
    first = document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")

    bundle = searchset_bundle(
        [first],
        total=41,
        self_url=f"{BASE_URL}/fhir/r4/DocumentReference?status=current&_count=20&page=2",
        next_url=f"{BASE_URL}/fhir/r4/DocumentReference?status=current&_count=20&page=3",
        previous_url=f"{BASE_URL}/fhir/r4/DocumentReference?status=current&_count=20&page=1",
        base_url=BASE_URL,
    )

    Bundle.model_validate(bundle)
    check_codes(bundle)
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 41
    assert [link["relation"] for link in bundle["link"]] == ["self", "next", "previous"]
    (entry,) = bundle["entry"]
    assert entry["fullUrl"] == f"{BASE_URL}/fhir/r4/DocumentReference/{first['id']}"
    assert entry["search"] == {"mode": "match"}
    assert entry["resource"] == first


def test_empty_searchset_bundle_is_valid() -> None:
    bundle = searchset_bundle([], total=0, self_url=f"{BASE_URL}/fhir/r4/DocumentReference", base_url=BASE_URL)

    Bundle.model_validate(bundle)
    assert bundle["total"] == 0
    assert "entry" not in bundle
    assert bundle["link"] == [{"relation": "self", "url": f"{BASE_URL}/fhir/r4/DocumentReference"}]


def test_searchset_bundle_refuses_resources_without_an_id() -> None:
    resource = document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")
    resource.pop("id")

    with pytest.raises(Exception, match="id"):
        searchset_bundle([resource], total=1, self_url=BASE_URL, base_url=BASE_URL)


# --- Binary ----------------------------------------------------------------------------------------


def test_binary_resource_is_valid() -> None:
    data = base64.b64encode(b"%PDF-1.7 tiny").decode()

    resource = binary_resource("application/pdf", data, resource_id="0b9e5a3c-2f6d-4e1b-8a7c-5d4e3f2a1b0c")

    Binary.model_validate(resource)
    assert resource == {
        "resourceType": "Binary",
        "id": "0b9e5a3c-2f6d-4e1b-8a7c-5d4e3f2a1b0c",
        "contentType": "application/pdf",
        "data": data,
    }


def test_binary_resource_refuses_data_that_is_not_base64() -> None:
    with pytest.raises(Exception, match="Binary"):
        binary_resource("application/pdf", "not base64!")


# --- Date search parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024", DateParam("eq", dt.date(2024, 1, 1), "year")),
        ("2024-03", DateParam("eq", dt.date(2024, 3, 1), "month")),
        ("2024-03-05", DateParam("eq", dt.date(2024, 3, 5), "day")),
        ("eq2024-03-05", DateParam("eq", dt.date(2024, 3, 5), "day")),
        ("ge2024-01", DateParam("ge", dt.date(2024, 1, 1), "month")),
        ("le2023", DateParam("le", dt.date(2023, 1, 1), "year")),
        ("gt2024-02-29", DateParam("gt", dt.date(2024, 2, 29), "day")),
        ("lt2024-03-05T10:15:30Z", DateParam("lt", dt.datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC), "second")),
        ("2024-03-05T10:15:30+01:00", DateParam("eq", dt.datetime(2024, 3, 5, 10, 15, 30, tzinfo=PLUS_ONE), "second")),
        ("2024-03-05T10:15:30 01:00", DateParam("eq", dt.datetime(2024, 3, 5, 10, 15, 30, tzinfo=PLUS_ONE), "second")),
        ("ge2024-03-05T10:15-05:00", DateParam("ge", dt.datetime(2024, 3, 5, 10, 15, tzinfo=MINUS_FIVE), "minute")),
        (
            "2024-03-05T10:15:30.25Z",
            DateParam("eq", dt.datetime(2024, 3, 5, 10, 15, 30, 250000, tzinfo=UTC), "fraction"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_parse_date_param(raw: str, expected: DateParam) -> None:
    assert parse_date_param(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "yesterday",
        "24-03-05",
        "2024-13",
        "2024-02-30",
        "2024-03-05T10:15:30",  # a time needs a timezone
        "2024-03-05Z",
        "ne2024-03-05",
        "sa2024",
        "xx2024",
        "ge",
        "2024/03/05",
    ],
    ids=repr,
)
def test_parse_date_param_refuses(raw: str) -> None:
    with pytest.raises(InvalidSearchParameter) as excinfo:
        parse_date_param(raw)
    assert excinfo.value.error_code == "invalid_search_parameter"


@pytest.mark.parametrize(
    ("raw", "start", "end"),
    [
        ("2024", dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("2024-02", dt.datetime(2024, 2, 1, tzinfo=UTC), dt.datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-12", dt.datetime(2024, 12, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
        ("2024-02-29", dt.datetime(2024, 2, 29, tzinfo=UTC), dt.datetime(2024, 3, 1, tzinfo=UTC)),
        (
            "2024-03-05T10:15:30Z",
            dt.datetime(2024, 3, 5, 10, 15, 30, tzinfo=UTC),
            dt.datetime(2024, 3, 5, 10, 15, 31, tzinfo=UTC),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_date_param_interval(raw: str, start: dt.datetime, end: dt.datetime) -> None:
    assert parse_date_param(raw).interval() == (start, end)


@pytest.mark.parametrize(
    ("raw", "instant", "matches"),
    [
        ("2024-03", dt.datetime(2024, 3, 31, 23, 59, tzinfo=UTC), True),
        ("2024-03", dt.datetime(2024, 4, 1, 0, 0, tzinfo=UTC), False),
        ("ge2024-03", dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC), True),
        ("ge2024-03", dt.datetime(2024, 2, 29, 23, 59, tzinfo=UTC), False),
        ("gt2024-03", dt.datetime(2024, 3, 31, 12, 0, tzinfo=UTC), False),
        ("gt2024-03", dt.datetime(2024, 4, 1, 0, 0, tzinfo=UTC), True),
        ("le2024-03-05", dt.datetime(2024, 3, 5, 23, 0, tzinfo=UTC), True),
        ("le2024-03-05", dt.datetime(2024, 3, 6, 0, 0, tzinfo=UTC), False),
        ("lt2024-03-05", dt.datetime(2024, 3, 5, 0, 0, tzinfo=UTC), False),
        ("lt2024-03-05", dt.datetime(2024, 3, 4, 23, 59, tzinfo=UTC), True),
        ("ge2024-03-05T10:00:00+01:00", dt.datetime(2024, 3, 5, 9, 0, tzinfo=UTC), True),
        ("ge2024-03-05T10:00:00+01:00", dt.datetime(2024, 3, 5, 8, 59, tzinfo=UTC), False),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_date_param_matches(raw: str, instant: dt.datetime, matches: bool) -> None:
    assert parse_date_param(raw).matches(instant) is matches


# --- Token search parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("current", TokenParam(None, "current")),
        ("urn:quill:category|lab", TokenParam("urn:quill:category", "lab")),
        ("https://fhir.nhs.uk/Id/nhs-number|9434765919", TokenParam("https://fhir.nhs.uk/Id/nhs-number", "9434765919")),
        ("|lab", TokenParam("", "lab")),
        ("http://loinc.org|", TokenParam("http://loinc.org", None)),
        (r"urn:x|a\|b", TokenParam("urn:x", "a|b")),
    ],
    ids=repr,
)
def test_parse_token_param(raw: str, expected: TokenParam) -> None:
    assert parse_token_param(raw) == expected


@pytest.mark.parametrize("raw", ["", "|", "a|b|c"], ids=repr)
def test_parse_token_param_refuses(raw: str) -> None:
    with pytest.raises(InvalidSearchParameter):
        parse_token_param(raw)


# --- The in-test FHIR server's own rules ---------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer() as running:
        yield running


def _put(server: FhirTestServer, body: bytes, content_type: str = "application/fhir+json") -> requests.Response:
    return requests.put(
        f"{server.base_url}/DocumentReference",
        params={"identifier": "urn:quill:document|0b9e5a3c-2f6d-4e1b-8a7c-5d4e3f2a1b0c"},
        data=body,
        headers={"Content-Type": content_type},
        timeout=2,
    )


def _valid_body() -> dict:
    resource = document_reference(make_document(), base_url=BASE_URL, subject_mode="reference")
    resource.pop("id")
    return resource


def test_server_metadata_is_a_valid_capability_statement(server: FhirTestServer) -> None:
    response = requests.get(f"{server.base_url}/metadata", timeout=2)

    assert response.status_code == 200
    CapabilityStatement.model_validate(response.json())


@pytest.mark.parametrize(
    ("mutate", "diagnostic"),
    [
        (lambda r: r.update(status="deleted"), "status"),
        (lambda r: r.update(docStatus="done"), "docStatus"),
        (lambda r: r.pop("subject"), "subject"),
        (lambda r: r.update(content=[]), "content"),
        (lambda r: r["content"][0]["attachment"].pop("url"), "attachment.url"),
        (lambda r: r["content"][0]["attachment"].pop("size"), "attachment.size"),
        (lambda r: r["content"][0]["attachment"].pop("hash"), "attachment.hash"),
        (lambda r: r["content"][0]["attachment"].pop("contentType"), "attachment.contentType"),
        (lambda r: r.update(resourceType="Patient"), "resourceType"),
        (lambda r: r.update(unknownElement=1), "Extra inputs"),
        (lambda r: r.update(date="2024-05-01T09:30:15"), "date"),
        (lambda r: (r.pop("identifier"), r.pop("masterIdentifier")), "identifier"),
    ],
    ids=[
        "status",
        "docStatus",
        "no-subject",
        "no-content",
        "no-url",
        "no-size",
        "no-hash",
        "no-content-type",
        "wrong-type",
        "unknown-element",
        "naive-date",
        "no-identifier",
    ],
)
def test_server_rejects_invalid_document_references_with_400(server: FhirTestServer, mutate, diagnostic: str) -> None:
    body = _valid_body()
    mutate(body)

    response = _put(server, json.dumps(body).encode())

    assert response.status_code == 400
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    assert diagnostic in outcome["issue"][0]["diagnostics"]
    assert server.resources("DocumentReference") == []


def test_server_rejects_a_body_that_is_not_json(server: FhirTestServer) -> None:
    response = _put(server, b"{not json")

    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "structure"


def test_server_rejects_the_wrong_content_type(server: FhirTestServer) -> None:
    response = _put(server, json.dumps(_valid_body()).encode(), content_type="text/plain")

    assert response.status_code == 415
    assert server.resources("DocumentReference") == []


def test_server_rejects_a_resource_that_lacks_the_identifier_it_is_updated_on(server: FhirTestServer) -> None:
    body = _valid_body()
    response = requests.put(
        f"{server.base_url}/DocumentReference",
        params={"identifier": "urn:quill:document|someone-else"},
        data=json.dumps(body),
        headers={"Content-Type": "application/fhir+json"},
        timeout=2,
    )

    assert response.status_code == 400
    assert server.resources("DocumentReference") == []


def test_server_answers_with_etag_and_location(server: FhirTestServer) -> None:
    created = _put(server, json.dumps(_valid_body()).encode())
    updated = _put(server, json.dumps(_valid_body()).encode())

    assert created.status_code == 201
    assert created.headers["ETag"] == 'W/"1"'
    resource_id = created.json()["id"]
    assert created.headers["Location"] == f"{server.base_url}/DocumentReference/{resource_id}/_history/1"
    assert updated.status_code == 200
    assert updated.headers["ETag"] == 'W/"2"'
    read = requests.get(f"{server.base_url}/DocumentReference/{resource_id}", timeout=2)
    assert read.json()["meta"]["versionId"] == "2"
