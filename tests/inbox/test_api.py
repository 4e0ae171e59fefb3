"""POST /api/inbox/: documents from integrators with hints, idempotent by Idempotency-Key, refusals kept."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from apps.inbox.models import InboxItem, ItemState
from tests import factories
from tests.documents import samples
from tests.inbox.helpers import letter_pdf

pytestmark = pytest.mark.django_db
URL = "/api/inbox/"


def _post(client, data, *, name="letter.pdf", key=None, **hints):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **hints}, format="multipart", headers=headers)


def test_document_with_hints_is_received(filesystem_storage, clinician, upload_tmp):
    client = factories.token_client(clinician)
    data = letter_pdf(["Discharge"])
    response = _post(
        client, data, key="ehr-4711", nhs_number="943 476 5919", date_of_birth="1970-03-01", family_name="Marwood"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["source_name"] == "API"
    assert body["hints"] == {"nhs_number": "9434765919", "date_of_birth": "1970-03-01", "family_name": "Marwood"}
    item = InboxItem.objects.get(pk=body["id"])
    assert item.source_identity == "api:ehr-4711" and item.provenance["api_user"] == clinician.email
    assert AuditEvent.objects.get(action="inbox.item_received").actor_id == clinician.pk


def test_same_key_same_bytes_answers_with_the_first_item(filesystem_storage, clinician, upload_tmp):
    client = factories.token_client(clinician)
    data = letter_pdf(["Once"])
    first = _post(client, data, key="k-1")
    again = _post(client, data, key="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and InboxItem.objects.count() == 1


def test_same_key_other_bytes_is_refused(filesystem_storage, clinician, upload_tmp):
    client = factories.token_client(clinician)
    _post(client, letter_pdf(["One"]), key="k-2")
    response = _post(client, letter_pdf(["Two"]), key="k-2")
    assert response.status_code == 409 and response.json()["detail"]["error_code"] == "idempotency_key_reused"
    assert InboxItem.objects.count() == 1


def test_without_a_key_each_post_is_new(filesystem_storage, clinician, upload_tmp):
    client = factories.token_client(clinician)
    _post(client, letter_pdf(["A"]))
    _post(client, letter_pdf(["B"]))
    assert InboxItem.objects.count() == 2


def test_refused_file_answers_its_refusal_and_is_kept_for_administrators(filesystem_storage, clinician, upload_tmp):
    client = factories.token_client(clinician)
    data = samples.pdf_with_open_action_javascript()
    response = _post(client, data, key="k-3")
    assert response.status_code == 400 and response.json()["detail"]["error_code"] == "active_content"
    item = InboxItem.objects.get()
    assert item.state == ItemState.REFUSED and item.storage_key == ""
    retry = _post(client, data, key="k-3")
    assert retry.status_code == 400 and retry.json()["detail"]["error_code"] == "active_content"
    assert InboxItem.objects.count() == 1


@pytest.mark.parametrize(
    ("hints", "code"),
    [
        ({"nhs_number": "9434765918"}, "invalid_patient_hint"),
        ({"date_of_birth": "31/02/1970"}, "invalid"),
        ({"family_name": ""}, "invalid"),
    ],
    ids=["nhs-check-digit", "date", "empty"],
)
def test_invalid_hint_is_refused_with_nothing_stored(filesystem_storage, clinician, upload_tmp, hints, code):
    response = _post(factories.token_client(clinician), letter_pdf(["x"]), **hints)
    assert response.status_code == 400 and response.json()["detail"]["error_code"] == code
    assert InboxItem.objects.count() == 0


def test_bad_idempotency_key_is_refused(filesystem_storage, clinician, upload_tmp):
    response = _post(factories.token_client(clinician), letter_pdf(["x"]), key="x" * 201)
    assert response.status_code == 400 and response.json()["detail"]["error_code"] == "invalid_patient_hint"


def test_missing_file_is_refused(filesystem_storage, clinician, upload_tmp):
    response = factories.token_client(clinician).post(URL, {"nhs_number": "9434765919"}, format="multipart")
    assert response.status_code == 400 and response.json()["detail"]["error_code"] == "missing_file"


def test_billing_role_is_refused_and_audited(filesystem_storage, billing_user, upload_tmp):
    response = _post(factories.token_client(billing_user), letter_pdf(["x"]))
    assert response.status_code == 403 and response.json()["detail"]["error_code"] == "permission_denied"
    assert AuditEvent.objects.filter(action="access.denied", outcome="denied").exists()
    assert InboxItem.objects.count() == 0


def test_keys_are_per_organisation(filesystem_storage, clinician, other_clinician, upload_tmp):
    data = letter_pdf(["Shared key"])
    assert _post(factories.token_client(clinician), data, key="same").status_code == 201
    assert _post(factories.token_client(other_clinician), data, key="same").status_code == 201
