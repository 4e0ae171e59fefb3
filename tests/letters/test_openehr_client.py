import uuid
from datetime import UTC, datetime

import pytest

from apps.letters.errors import EhrRejectedError, EhrRetryableError
from apps.letters.openehr.client import CompositionResult, EhrbaseClient
from apps.letters.openehr.flat import KEY_REPORT_ID, KEY_STATUS, LetterComposition, build_flat
from apps.letters.openehr.template import TEMPLATE_ID, load_letter_template

from .openehr_server import SYSTEM_ID, FakeEhrbase

NAMESPACE = "quill"


@pytest.fixture
def server():
    with FakeEhrbase(username="quill", password="s3cret") as fake:
        yield fake


@pytest.fixture
def client(server):
    return EhrbaseClient(server.base_url, username="quill", password="s3cret", timeout=2.0)


@pytest.fixture
def with_template(client):
    client.upload_template(load_letter_template())


def _flat(letter_id: uuid.UUID | None = None, body: str = "Seen today. Improving.") -> dict[str, str]:
    return build_flat(
        LetterComposition(
            letter_id=letter_id or uuid.uuid4(),
            patient_id="patient-1",
            subject="Follow-up",
            body=body,
            recipient="Dr J Smith",
            author_name="Dr A Patel",
            clinical_time=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        )
    )


def test_template_upload_then_again_is_exists(client, server):
    assert client.upload_template(load_letter_template()) == "created"
    assert client.upload_template(load_letter_template()) == "exists"
    assert list(server.templates) == [TEMPLATE_ID]
    assert server.requests[0].headers["Content-Type"] == "application/xml"


def test_wrong_credentials_are_rejected(server):
    client = EhrbaseClient(server.base_url, username="quill", password="wrong", timeout=2.0)
    with pytest.raises(EhrRejectedError) as excinfo:
        client.upload_template(load_letter_template())
    assert excinfo.value.status == 401
    assert server.templates == {}


def test_find_ehr_missing_then_create_then_reuse(client, server):
    assert client.find_ehr("patient-1", NAMESPACE) is None
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    assert client.get_or_create_ehr("patient-1", NAMESPACE) == ehr_id
    assert client.find_ehr("patient-1", NAMESPACE) == ehr_id
    assert len(server.ehrs) == 1
    stored = server.ehrs[ehr_id]
    assert (stored.subject_id, stored.namespace) == ("patient-1", NAMESPACE)
    assert stored.status["subject"]["external_ref"]["type"] == "PERSON"


def test_create_ehr_conflict_returns_the_existing_one(client, server):
    first = client.create_ehr("patient-1", NAMESPACE)
    assert client.create_ehr("patient-1", NAMESPACE) == first
    assert len(server.ehrs) == 1
    assert [r.status for r in server.requests_to("POST", "/ehr")] == [201, 409]


def test_post_composition_stores_and_returns_uid(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    flat = _flat()
    result = client.post_composition(ehr_id, flat, TEMPLATE_ID)
    assert result.uid == f"{result.versioned_object_uid}::{SYSTEM_ID}::1"
    assert result.version == 1
    [stored] = server.compositions_in(ehr_id)
    assert stored.versions == [flat]
    post = server.requests_to("POST", "/composition")[0]
    assert post.query == {"templateId": [TEMPLATE_ID], "format": ["FLAT"]}
    assert post.headers["Prefer"] == "return=representation"
    assert post.headers["Content-Type"] == "application/json"


def test_lost_response_is_found_again_by_report_id(server, with_template):
    # given a write that succeeds on the server but answers after the client gave up
    client = EhrbaseClient(server.base_url, username="quill", password="s3cret", timeout=0.3)
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    letter_id = uuid.uuid4()
    server.delay_next(1.0)
    with pytest.raises(EhrRetryableError):
        client.post_composition(ehr_id, _flat(letter_id), TEMPLATE_ID)
    assert len(server.compositions_in(ehr_id)) == 1
    # when the retry looks before it posts
    found = client.find_composition_by_report_id(ehr_id, str(letter_id), TEMPLATE_ID)
    # then it finds the stored composition and posts nothing twice
    [stored] = server.compositions_in(ehr_id)
    assert found == CompositionResult(stored.latest_uid)
    assert client.get_composition(ehr_id, found.uid)[KEY_REPORT_ID] == str(letter_id)
    assert len(server.requests_to("POST", "/composition")) == 1


def test_report_id_lookup_is_none_for_unknown_letter(client, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    client.post_composition(ehr_id, _flat(), TEMPLATE_ID)
    assert client.find_composition_by_report_id(ehr_id, str(uuid.uuid4()), TEMPLATE_ID) is None


def test_503_is_retryable_then_succeeds(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    server.fail_next(1, status=503, retry_after=7)
    with pytest.raises(EhrRetryableError) as excinfo:
        client.post_composition(ehr_id, _flat(), TEMPLATE_ID)
    assert excinfo.value.retry_after == 7.0
    assert server.compositions_in(ehr_id) == []
    assert client.post_composition(ehr_id, _flat(), TEMPLATE_ID).version == 1
    assert len(server.compositions_in(ehr_id)) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_transient_statuses_are_retryable(client, server, status):
    server.fail_next(1, status=status)
    with pytest.raises(EhrRetryableError):
        client.find_ehr("patient-1", NAMESPACE)


def test_connection_refused_is_retryable(server):
    url = server.base_url
    server.stop()
    client = EhrbaseClient(url, username="quill", password="s3cret", timeout=1.0)
    with pytest.raises(EhrRetryableError):
        client.find_ehr("patient-1", NAMESPACE)


def test_put_with_if_match_creates_version_two(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    letter_id = uuid.uuid4()
    first = client.post_composition(ehr_id, _flat(letter_id), TEMPLATE_ID)
    amended = _flat(letter_id, body="Corrected: improving well.")
    second = client.put_composition(ehr_id, first.versioned_object_uid, first.uid, amended, TEMPLATE_ID)
    assert second.versioned_object_uid == first.versioned_object_uid
    assert second.version == 2
    assert server.requests_to("PUT", first.versioned_object_uid)[0].headers["If-Match"] == f'"{first.uid}"'
    [stored] = server.compositions_in(ehr_id)
    assert stored.versions[-1] == amended


def test_put_with_stale_version_is_412(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    first = client.post_composition(ehr_id, _flat(), TEMPLATE_ID)
    client.put_composition(ehr_id, first.versioned_object_uid, first.uid, _flat(), TEMPLATE_ID)
    with pytest.raises(EhrRejectedError) as excinfo:
        client.put_composition(ehr_id, first.versioned_object_uid, first.uid, _flat(), TEMPLATE_ID)
    assert excinfo.value.status == 412
    assert len(server.compositions_in(ehr_id)[0].versions) == 2


def test_unknown_template_id_is_rejected(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    with pytest.raises(EhrRejectedError) as excinfo:
        client.post_composition(ehr_id, _flat(), "no_such_template.v1")
    assert excinfo.value.status == 422
    assert "no_such_template.v1" in excinfo.value.body
    assert server.compositions_in(ehr_id) == []


def test_flat_key_outside_the_template_is_rejected(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    flat = _flat() | {"quill_letter/clinical_synopsis:0/synopsis": "indexed by mistake"}
    with pytest.raises(EhrRejectedError) as excinfo:
        client.post_composition(ehr_id, flat, TEMPLATE_ID)
    assert excinfo.value.status == 400
    assert "clinical_synopsis:0" in excinfo.value.body
    assert server.compositions_in(ehr_id) == []


def test_composition_for_unknown_ehr_is_rejected(client, server, with_template):
    with pytest.raises(EhrRejectedError) as excinfo:
        client.post_composition(str(uuid.uuid4()), _flat(), TEMPLATE_ID)
    assert excinfo.value.status == 404
    assert server.compositions == {}


def test_get_composition_missing_is_none(client):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    assert client.get_composition(ehr_id, str(uuid.uuid4())) is None


def test_status_is_final_on_the_server(client, server, with_template):
    ehr_id = client.get_or_create_ehr("patient-1", NAMESPACE)
    result = client.post_composition(ehr_id, _flat(), TEMPLATE_ID)
    assert client.get_composition(ehr_id, result.versioned_object_uid)[KEY_STATUS] == "final"
