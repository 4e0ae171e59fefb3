"""ITI-65 for a patient Quill cannot resolve, with the organisation's inbox enabled.

``MhdSettings.unknown_patient_to_inbox`` on: the bundle's documents become unfiled inbox
items (through the inbox pipeline) instead of an UnresolvedReference refusal; another
organisation's patient is answered exactly like an unknown one. Over HTTP and through
fhirpy, against real PostgreSQL and a real storage folder.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirpy import SyncFHIRClient

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.fhir import recipient_inbox
from apps.fhir.models import MhdSettings, SubmissionSet
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.tasks import scan_inbox_item
from tests.documents import samples
from tests.factories import VALID_NHS_NUMBERS, make_patient, token_client
from tests.fhir.mhd_bundles import NHS_NUMBER, Doc, as_json, nhs_subject, provide_bundle
from tests.services.clamd import QUILL_TEST_MALWARE

FHIR = "/fhir/r4"
INBOX_PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": NHS_NUMBER, "value": VALID_NHS_NUMBERS[2]}],
    "name": [{"family": "Brontë", "given": ["Anne"]}],
    "birthDate": "1950-01-17",
}


@pytest.fixture(autouse=True)
def _settings(settings, filesystem_storage, upload_tmp):
    settings.QUILL_PUBLIC_BASE_URL = "https://quill.example.test"
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_SCANNER = "none"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def inbox_on(organisation):
    return MhdSettings.objects.create(organisation=organisation, unknown_patient_to_inbox=True)


@pytest.fixture
def api(clinician):
    return token_client(clinician, keyword="Bearer")


def _post(api, bundle):
    return api.generic("POST", FHIR, as_json(bundle), content_type="application/fhir+json")


def _objects(folder) -> list[str]:
    return [name for _, _, names in os.walk(folder) for name in names] if os.path.exists(folder) else []


def _inbox_answer(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    assert body["type"] == "transaction-response"
    for entry in body["entry"]:
        assert entry["response"]["status"] == "202 Accepted"
        assert entry["response"]["location"].startswith("urn:uuid:")
        (issue,) = entry["response"]["outcome"]["issue"]
        assert (issue["severity"], issue["code"]) == ("information", "informational")
    return body


@pytest.mark.django_db
def test_an_unknown_patient_becomes_inbox_items_with_hints_provenance_and_audit(
    api, inbox_on, clinician, filesystem_storage
):
    docs = [Doc(samples.pdf(1), title="Discharge letter"), Doc(samples.pdf(2), creation="2025-02-01")]
    bundle = provide_bundle(docs, subject={}, patient=INBOX_PATIENT)

    body = _inbox_answer(_post(api, bundle))

    items = list(InboxItem.objects.order_by("provenance__master_identifier"))
    assert len(items) == 2 and {item.state for item in items} == {ItemState.READY}
    assert not Document.objects.exists() and not SubmissionSet.objects.exists()
    assert len(_objects(filesystem_storage)) == 2
    by_master = {item.provenance["master_identifier"]: item for item in items}
    first = by_master[f"urn:ietf:rfc:3986|{docs[0].master_identifier}"]
    assert first.hints == {
        "nhs_number": VALID_NHS_NUMBERS[2],
        "family_name": "Brontë",
        "given_name": "Anne",
        "date_of_birth": "1950-01-17",
    }
    assert first.provenance["channel"] == "mhd-iti65"
    assert first.provenance["source_id"] == "urn:oid:1.2.3.4.5.6"
    assert first.provenance["submission_set_unique_id"] == bundle["entry"][0]["resource"]["identifier"][0]["value"]
    assert first.provenance["document_title"] == "Discharge letter"
    assert first.source.kind == "api" and first.sha1 == hashlib.sha1(docs[0].data).hexdigest()
    # The DocumentReference (entry 1) and its Binary (entry 2) both name the item.
    assert (
        body["entry"][1]["response"]["location"] == body["entry"][2]["response"]["location"] == f"urn:uuid:{first.pk}"
    )
    received = AuditEvent.objects.filter(action="inbox.item_received")
    assert {str(event.object_id) for event in received} == {str(item.pk) for item in items}
    assert all(event.actor_id == clinician.pk for event in received)
    (bundle_event,) = AuditEvent.objects.filter(action="fhir.bundle_received")
    assert bundle_event.details["to_inbox"] is True and bundle_event.patient_id is None
    assert sorted(bundle_event.details["inbox_items"]) == sorted(str(item.pk) for item in items)


@pytest.mark.django_db
def test_the_same_bundle_again_answers_the_same_items_and_stores_nothing_more(api, inbox_on, filesystem_storage):
    bundle = provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(VALID_NHS_NUMBERS[2]))
    first = _inbox_answer(_post(api, bundle))

    again = _inbox_answer(_post(api, bundle))

    assert [e["response"]["location"] for e in again["entry"]] == [e["response"]["location"] for e in first["entry"]]
    assert InboxItem.objects.count() == 1 and len(_objects(filesystem_storage)) == 1
    assert AuditEvent.objects.filter(action="inbox.item_received").count() == 1
    resent = AuditEvent.objects.filter(action="fhir.bundle_received", details__resent=True)
    assert resent.count() == 1


@pytest.mark.django_db
def test_a_master_identifier_reused_in_a_new_bundle_is_refused(api, inbox_on):
    reused = Doc(samples.pdf(1))
    _inbox_answer(_post(api, provide_bundle([reused], subject=nhs_subject(VALID_NHS_NUMBERS[2]))))

    response = _post(api, provide_bundle([Doc(samples.pdf(2)), reused], subject=nhs_subject(VALID_NHS_NUMBERS[2])))

    assert response.status_code == 409, response.content
    assert InboxItem.objects.count() == 1


@pytest.mark.django_db
def test_one_bad_document_leaves_no_item_and_no_object(
    api, inbox_on, filesystem_storage, upload_tmp, django_capture_on_commit_callbacks
):
    docs = [Doc(samples.pdf()), Doc(samples.windows_executable(), title="Not a PDF"), Doc(samples.pdf(1))]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(api, provide_bundle(docs, subject=nhs_subject(VALID_NHS_NUMBERS[2])))

    assert response.status_code == 415, response.content
    (issue,) = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[3]"] and docs[1].master_identifier in issue["diagnostics"]
    assert not InboxItem.objects.exists() and not Document.objects.exists()
    assert _objects(filesystem_storage) == [] and os.listdir(upload_tmp) == []
    assert callbacks == []
    assert not AuditEvent.objects.filter(action__startswith="inbox.").exists()
    assert AuditEvent.objects.filter(action="fhir.bundle_refused", outcome="denied").count() == 1


@pytest.mark.django_db
def test_a_known_patient_is_still_filed_as_documents(api, inbox_on, organisation):
    patient = make_patient(organisation, nhs_number=VALID_NHS_NUMBERS[0])

    response = _post(api, provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(patient.nhs_number)))

    assert response.status_code == 200, response.content
    assert {entry["response"]["status"] for entry in response.json()["entry"]} == {"201 Created"}
    assert Document.objects.filter(patient=patient).count() == 1 and not InboxItem.objects.exists()


@pytest.mark.django_db
def test_with_the_inbox_off_an_unknown_patient_is_still_refused(api, organisation):
    MhdSettings.objects.create(organisation=organisation)  # the default is off

    response = _post(api, provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(VALID_NHS_NUMBERS[2])))

    assert response.status_code == 422, response.content
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "mhd_unresolved_reference"
    assert not InboxItem.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("named_by", ["nhs_number", "reference"])
def test_another_organisations_patient_goes_to_the_callers_inbox_like_an_unknown_one(
    api, inbox_on, organisation, other_organisation, named_by
):
    theirs = make_patient(other_organisation, nhs_number=VALID_NHS_NUMBERS[1])
    subject = nhs_subject(theirs.nhs_number) if named_by == "nhs_number" else {"reference": f"Patient/{theirs.pk}"}
    unknown = {"nhs_number": nhs_subject(VALID_NHS_NUMBERS[3]), "reference": {"reference": f"Patient/{uuid.uuid4()}"}}

    answers = [_inbox_answer(_post(api, provide_bundle([Doc(samples.pdf(n))], subject=s))) for n, s in enumerate(
        [subject, unknown[named_by]], start=1)]  # fmt: skip

    def shape(body):
        return [(e["response"]["status"], e["response"]["outcome"]) for e in body["entry"]]

    assert shape(answers[0]) == shape(answers[1])
    assert set(InboxItem.objects.values_list("organisation_id", flat=True)) == {organisation.pk}
    assert not Document.objects.exists()
    assert not AuditEvent.objects.filter(patient_id=theirs.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_fhirpy_posts_a_bundle_for_an_unknown_patient_into_the_inbox(live_server, clinician, organisation):
    MhdSettings.objects.create(organisation=organisation, unknown_patient_to_inbox=True)
    _, key = api_token_create(user=clinician, name="fhirpy")
    client = SyncFHIRClient(f"{live_server.url}/fhir/r4", authorization=f"Bearer {key}")
    bundle = provide_bundle([Doc(samples.pdf(1))], subject={}, patient=INBOX_PATIENT)

    answer = client.execute("", method="post", data=bundle)

    assert [entry["response"]["status"] for entry in answer["entry"]] == ["202 Accepted"] * 4
    (item,) = InboxItem.objects.all()
    assert answer["entry"][1]["response"]["location"] == f"urn:uuid:{item.pk}"
    assert item.hints["nhs_number"] == VALID_NHS_NUMBERS[2]


@pytest.mark.django_db
def test_a_document_for_a_known_patient_in_an_inbox_bound_bundle_is_refused(api, inbox_on, organisation):
    patient = make_patient(organisation, nhs_number=VALID_NHS_NUMBERS[0])
    bundle = provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(VALID_NHS_NUMBERS[2]))
    bundle["entry"][1]["resource"]["subject"] = nhs_subject(patient.nhs_number)

    response = _post(api, bundle)

    assert response.status_code == 400, response.content
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[1]"]
    assert not InboxItem.objects.exists() and not Document.objects.exists()


@pytest.mark.django_db
def test_a_hint_the_inbox_would_refuse_is_left_out(api, inbox_on):
    patient = {**INBOX_PATIENT, "birthDate": "1950"}  # a FHIR date, but only a year: not a date-of-birth hint

    _inbox_answer(_post(api, provide_bundle([Doc(samples.pdf(1))], subject={}, patient=patient)))

    (item,) = InboxItem.objects.all()
    assert item.hints == {"nhs_number": VALID_NHS_NUMBERS[2], "family_name": "Brontë", "given_name": "Anne"}
    assert item.provenance["subject"].startswith("urn:uuid:")


@pytest.fixture
def racing(monkeypatch):
    """The next bundle misses the earlier result once, as if the other request committed just after the check."""
    real = recipient_inbox._previous_items
    calls = []

    def first_miss(actor, plan):
        calls.append(plan.unique_id)
        return None if len(calls) == 1 else real(actor, plan)

    monkeypatch.setattr(recipient_inbox, "_previous_items", first_miss)
    return calls


@pytest.mark.django_db
def test_a_bundle_stored_meanwhile_by_another_request_is_answered_as_a_resend(
    api, inbox_on, filesystem_storage, racing
):
    racing.append("the first bundle checks normally")
    bundle = provide_bundle([Doc(samples.pdf(1))], subject=nhs_subject(VALID_NHS_NUMBERS[2]))
    first = _inbox_answer(_post(api, bundle))
    locations = [entry["response"]["location"] for entry in first["entry"]]

    racing.clear()
    again = _inbox_answer(_post(api, bundle))

    assert len(racing) == 2  # missed once, then found what the other request stored
    assert [entry["response"]["location"] for entry in again["entry"]] == locations
    assert InboxItem.objects.count() == 1 and len(_objects(filesystem_storage)) == 1


@pytest.mark.django_db
def test_a_race_lost_half_way_rolls_back_and_removes_the_object_already_stored(
    api, inbox_on, filesystem_storage, racing
):
    taken = Doc(samples.pdf(1))
    racing.append("the first bundle checks normally")
    _inbox_answer(_post(api, provide_bundle([taken], subject=nhs_subject(VALID_NHS_NUMBERS[2]))))
    racing.clear()

    # The new document is stored first, then the second is found taken: all of it is undone.
    response = _post(api, provide_bundle([Doc(samples.pdf(2)), taken], subject=nhs_subject(VALID_NHS_NUMBERS[2])))

    assert response.status_code == 409, response.content
    assert InboxItem.objects.count() == 1 and len(_objects(filesystem_storage)) == 1


@pytest.mark.django_db
def test_an_infected_document_is_taken_then_quarantined_by_the_inbox_scan(api, inbox_on, scanner):
    infected = samples.pdf()
    head, _, tail = infected.rpartition(b"trailer")
    infected = head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail

    body = _inbox_answer(_post(api, provide_bundle([Doc(infected)], subject=nhs_subject(VALID_NHS_NUMBERS[2]))))

    (item,) = InboxItem.objects.all()
    assert item.state == ItemState.SCANNING and body["entry"][1]["response"]["location"] == f"urn:uuid:{item.pk}"
    assert scan_inbox_item(str(item.pk)) == "infected"
    item.refresh_from_db()
    assert item.state == ItemState.INFECTED
    assert AuditEvent.objects.filter(action="inbox.item_quarantined", object_id=str(item.pk)).exists()
