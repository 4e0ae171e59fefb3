"""FhirClient against the in-test FHIR R4 server on a real socket."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import socket
import uuid
from collections.abc import Iterator

import pytest
import requests

from apps.fhir.client import FhirClient, FhirWriteResult
from apps.fhir.errors import FhirConfigurationError, FhirRejectedError, FhirRetryableError
from apps.fhir.mapping import document_reference, patient_resource
from tests.fhir.fhir_server import FhirTestServer
from tests.fhir.test_mapping import BASE_URL, make_document, make_patient

DOCUMENT_SYSTEM = "urn:quill:document"


@pytest.fixture
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer() as running:
        yield running


@pytest.fixture
def client(server: FhirTestServer) -> Iterator[FhirClient]:
    with FhirClient(server.base_url, timeout=(2.0, 2.0)) as fhir_client:
        yield fhir_client


def a_document_reference(**overrides: object) -> dict:
    return document_reference(make_document(**overrides), base_url=BASE_URL, subject_mode="identifier")


def test_first_put_creates_then_the_same_put_updates_without_a_duplicate(
    server: FhirTestServer, client: FhirClient
) -> None:
    resource = a_document_reference()

    created = client.put_document_reference(resource)
    updated = client.put_document_reference({**resource, "status": "superseded"})

    assert created.created is True
    assert created.version_id == "1"
    assert updated == FhirWriteResult(id=created.id, version_id="2", created=False)
    stored = server.resources("DocumentReference")
    assert len(stored) == 1
    assert stored[0]["status"] == "superseded"
    assert stored[0]["id"] == created.id


def test_put_is_a_conditional_update_on_the_quill_identifier(server: FhirTestServer, client: FhirClient) -> None:
    resource = a_document_reference()

    client.put_document_reference(resource)

    (request,) = server.requests_to("PUT", "DocumentReference")
    assert request.path == "/fhir/DocumentReference"
    assert request.query == {"identifier": [f"{DOCUMENT_SYSTEM}|{resource['id']}"]}
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Accept"] == "application/fhir+json"
    sent = request.json()
    assert "id" not in sent  # the server owns the logical id ...
    assert set(sent["meta"]) == {"profile"}  # ... and the version metadata; the MHD profile claim goes along
    assert sent["masterIdentifier"] == {"use": "usual", "system": DOCUMENT_SYSTEM, "value": resource["id"]}


def test_two_documents_are_two_resources(server: FhirTestServer, client: FhirClient) -> None:
    first = client.put_document_reference(a_document_reference())
    second = client.put_document_reference(a_document_reference(id=uuid.uuid4()))

    assert first.id != second.id
    assert len(server.resources("DocumentReference")) == 2


def test_retry_after_a_read_timeout_whose_write_landed_leaves_one_resource(
    server: FhirTestServer,
) -> None:
    resource = a_document_reference()
    server.delay_next(2.0)

    with FhirClient(server.base_url, timeout=(2.0, 0.3)) as impatient:
        with pytest.raises(FhirRetryableError) as excinfo:
            impatient.put_document_reference(resource)
        assert len(server.resources("DocumentReference")) == 1  # the server applied the write

        retried = impatient.put_document_reference(resource)

    assert excinfo.value.retry_after is None
    assert retried.created is False
    assert retried.version_id == "2"
    assert len(server.resources("DocumentReference")) == 1


def test_503_with_retry_after_seconds_is_retryable_with_the_value(server: FhirTestServer, client: FhirClient) -> None:
    server.fail_next(1, status=503, retry_after=120)

    with pytest.raises(FhirRetryableError) as excinfo:
        client.put_document_reference(a_document_reference())

    assert excinfo.value.retry_after == 120.0
    assert excinfo.value.status == 503
    assert excinfo.value.error_code == "fhir_unavailable"
    assert server.resources("DocumentReference") == []


def test_429_with_an_http_date_retry_after_is_retryable(server: FhirTestServer, client: FhirClient) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    server.fail_next(1, status=429, retry_after=email.utils.format_datetime(later, usegmt=True))

    with pytest.raises(FhirRetryableError) as excinfo:
        client.put_document_reference(a_document_reference())

    assert excinfo.value.retry_after is not None
    assert 80 <= excinfo.value.retry_after <= 90


@pytest.mark.parametrize("status", [500, 502, 504, 408], ids=str)
def test_server_errors_are_retryable(server: FhirTestServer, client: FhirClient, status: int) -> None:
    server.fail_next(1, status=status)

    with pytest.raises(FhirRetryableError) as excinfo:
        client.put_document_reference(a_document_reference())

    assert excinfo.value.status == status
    assert excinfo.value.retry_after is None


def test_the_write_succeeds_once_the_faults_clear(server: FhirTestServer, client: FhirClient) -> None:
    server.fail_next(2, status=503)
    resource = a_document_reference()

    for _ in range(2):
        with pytest.raises(FhirRetryableError):
            client.put_document_reference(resource)
    result = client.put_document_reference(resource)

    assert result.created is True
    assert len(server.resources("DocumentReference")) == 1


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with (
        FhirClient(f"http://127.0.0.1:{port}/fhir", timeout=(1.0, 1.0)) as unreachable,
        pytest.raises(FhirRetryableError) as excinfo,
    ):
        unreachable.put_document_reference(a_document_reference())

    assert excinfo.value.retry_after is None


def test_injected_400_is_rejected_with_the_operation_outcome(server: FhirTestServer, client: FhirClient) -> None:
    server.reject_next(400)

    with pytest.raises(FhirRejectedError) as excinfo:
        client.put_document_reference(a_document_reference())

    assert excinfo.value.status == 400
    assert excinfo.value.operation_outcome["resourceType"] == "OperationOutcome"
    assert excinfo.value.operation_outcome["issue"][0]["severity"] == "error"
    assert excinfo.value.error_code == "fhir_rejected"
    assert server.resources("DocumentReference") == []


def test_an_invalid_resource_is_rejected_by_the_server_with_its_reason(
    server: FhirTestServer, client: FhirClient
) -> None:
    resource = a_document_reference()
    resource["content"][0]["attachment"]["hash"] = base64.b64encode(b"only-ten-b").decode()

    with pytest.raises(FhirRejectedError) as excinfo:
        client.put_document_reference(resource)

    assert excinfo.value.status == 400
    assert "20-byte SHA-1" in excinfo.value.operation_outcome["issue"][0]["diagnostics"]
    assert "20-byte SHA-1" in excinfo.value.message
    assert server.resources("DocumentReference") == []


def test_multiple_matches_is_a_412_rejection(server: FhirTestServer, client: FhirClient) -> None:
    resource = a_document_reference()
    for duplicate_id in ("dup-1", "dup-2"):
        server.store.of_type("DocumentReference")[duplicate_id] = {
            **resource,
            "id": duplicate_id,
            "meta": {"versionId": "1"},
        }

    with pytest.raises(FhirRejectedError) as excinfo:
        client.put_document_reference(resource)

    assert excinfo.value.status == 412
    assert excinfo.value.operation_outcome["issue"][0]["code"] == "multiple-matches"


def test_put_patient_is_a_conditional_update_on_the_quill_patient_identifier(
    server: FhirTestServer, client: FhirClient
) -> None:
    patient = make_patient()

    created = client.put_patient(patient_resource(patient))
    again = client.put_patient(patient_resource(patient))

    (first_request, _) = server.requests_to("PUT", "Patient")
    assert first_request.query == {"identifier": [f"urn:quill:patient|{patient.id}"]}
    assert created.created is True
    assert again == FhirWriteResult(id=created.id, version_id="2", created=False)
    assert len(server.resources("Patient")) == 1


def test_basic_auth_is_sent() -> None:
    with FhirTestServer(auth=("basic", "quill", "s3cret")) as server:
        with FhirClient(server.base_url, auth="basic", username="quill", password="s3cret") as fhir_client:
            result = fhir_client.put_document_reference(a_document_reference())

        (request,) = server.requests_to("PUT", "DocumentReference")
    assert result.created is True
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"quill:s3cret").decode()


def test_bearer_auth_is_sent() -> None:
    with FhirTestServer(auth=("bearer", "tok-123")) as server:
        with FhirClient(server.base_url, auth="bearer", token="tok-123") as fhir_client:
            result = fhir_client.put_document_reference(a_document_reference())

        (request,) = server.requests_to("PUT", "DocumentReference")
    assert result.created is True
    assert request.headers["Authorization"] == "Bearer tok-123"


def test_wrong_credentials_are_a_401_rejection() -> None:
    with FhirTestServer(auth=("bearer", "tok-123")) as server:
        with (
            FhirClient(server.base_url, auth="bearer", token="wrong") as fhir_client,
            pytest.raises(FhirRejectedError) as excinfo,
        ):
            fhir_client.put_document_reference(a_document_reference())

        assert server.resources("DocumentReference") == []
    assert excinfo.value.status == 401
    assert excinfo.value.operation_outcome["issue"][0]["code"] == "login"


def test_no_auth_sends_no_authorization_header(server: FhirTestServer, client: FhirClient) -> None:
    client.put_document_reference(a_document_reference())

    (request,) = server.requests_to("PUT", "DocumentReference")
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": "basic", "username": "quill"},
        {"auth": "basic", "password": "x"},
        {"auth": "bearer"},
        {"auth": "digest"},
        {"timeout": 0},
    ],
    ids=["basic-no-password", "basic-no-username", "bearer-no-token", "unknown-mode", "zero-timeout"],
)
def test_incomplete_configuration_is_refused(kwargs: dict) -> None:
    with pytest.raises(FhirConfigurationError):
        FhirClient("https://hapi.example.org/fhir", **kwargs)


def test_relative_base_url_is_refused() -> None:
    with pytest.raises(FhirConfigurationError):
        FhirClient("hapi.example.org/fhir")


def test_a_resource_without_the_quill_identifier_is_not_sent(server: FhirTestServer, client: FhirClient) -> None:
    resource = a_document_reference()
    resource.pop("masterIdentifier")
    resource["identifier"] = [i for i in resource["identifier"] if i["system"] != DOCUMENT_SYSTEM]

    with pytest.raises(FhirConfigurationError):
        client.put_document_reference(resource)

    assert server.requests == []


def test_the_test_server_search_finds_the_written_resource(server: FhirTestServer, client: FhirClient) -> None:
    resource = a_document_reference()
    result = client.put_document_reference(resource)

    bundle = requests.get(
        f"{server.base_url}/DocumentReference",
        params={"identifier": f"{DOCUMENT_SYSTEM}|{resource['id']}"},
        timeout=2,
    ).json()
    metadata = requests.get(f"{server.base_url}/metadata", timeout=2).json()

    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == result.id
    assert metadata["resourceType"] == "CapabilityStatement"
