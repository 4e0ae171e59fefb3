"""Outbound FHIR sync through the outbox, against the in-test FHIR server (real HTTP on 127.0.0.1).

Documents are created through the real ``document_upload`` service (files in a temporary
folder) and made clean through the real ``document_record_scan`` service, which writes the
outbox message. The relay task function ``relay_message`` is called directly, the way a
Celery worker would run it; "time passing" between attempts is simulated by making the
message due again. Nothing is mocked.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from fhir.resources.R4B.documentreference import DocumentReference

from apps.documents.models import Document, ErasureDecision, ErasureRequest, SyncState
from apps.documents.services import (
    UploadRequest,
    document_new_version,
    document_record_scan,
    document_restore,
    document_soft_delete,
    document_update,
    document_upload,
)
from apps.documents.services.retention import document_purge
from apps.fhir import codes
from apps.fhir.sync import fhir_patient_announce
from apps.files.spooling import spool
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from apps.outbox.tasks import relay_message
from tests.documents import samples
from tests.factories import make_patient
from tests.fhir.fhir_server import FhirTestServer

pytestmark = pytest.mark.django_db

PUBLIC_BASE = "https://quill.example.test"


@pytest.fixture
def fhir_server():
    with FhirTestServer() as server:
        yield server


@pytest.fixture
def fhir_settings(settings, filesystem_storage, fhir_server):
    settings.QUILL_FHIR_BASE_URL = fhir_server.base_url
    settings.QUILL_FHIR_AUTH = "none"
    settings.QUILL_FHIR_SUBJECT_MODE = "reference"
    settings.QUILL_FHIR_TIMEOUT_SECONDS = 5.0
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_SCANNER = "clamd"  # uploads start pending; the tests record the scan verdict
    settings.QUILL_OUTBOX_MAX_ATTEMPTS = 5
    settings.QUILL_OUTBOX_BACKOFF_BASE_SECONDS = 2.0
    settings.QUILL_OUTBOX_BACKOFF_MAX_SECONDS = 600.0
    return settings


def _upload(user, patient, data: bytes, *, title: str = "Full blood count", category: str = "lab") -> Document:
    """A pending document through the real upload service."""
    item = UploadRequest(
        spooled=spool([data], max_bytes=len(data) + 1), filename="report.pdf", category=category, title=title
    )
    return document_upload(actor=user, patient=patient, item=item)


def _clean_upload(user, patient, data: bytes | None = None, **kwargs) -> Document:
    """Uploaded, then scanned clean (which announces it to the outbox)."""
    document = _upload(user, patient, data or samples.pdf(1), **kwargs)
    document_record_scan(document=document, clean=True)
    document.refresh_from_db()
    return document


def _messages(document_or_patient, kind: str = "document_reference"):
    return OutboxMessage.objects.filter(target=Target.FHIR, kind=kind, object_id=str(document_or_patient.pk))


def _pending(document, kind: str = "document_reference") -> OutboxMessage:
    return _messages(document, kind).get(status=MessageStatus.PENDING)


def _make_due(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def _relay_all() -> list[str]:
    """Relay every due message (what relay_due and a worker would do), in creation order."""
    results = []
    for pk in OutboxMessage.objects.filter(status=MessageStatus.PENDING).order_by("pk").values_list("pk", flat=True):
        results.append(relay_message(pk))
    return results


def _one(server: FhirTestServer, resource_type: str) -> dict:
    resources = server.resources(resource_type)
    assert len(resources) == 1, resources
    return resources[0]


# --- A new document --------------------------------------------------------------------------------


def test_a_new_clean_document_arrives_once_after_its_patient(fhir_settings, fhir_server, clinician, patient):
    data = samples.pdf(2)
    document = _clean_upload(clinician, patient, data)
    message = _pending(document)
    assert document.fhir_sync_state == SyncState.PENDING

    assert relay_message(message.pk) == "done"

    stored_patient = _one(fhir_server, "Patient")
    stored = _one(fhir_server, "DocumentReference")
    DocumentReference.model_validate(stored)
    writes = [(request.method, request.path.rsplit("/", 1)[-1]) for request in fhir_server.requests]
    assert writes == [("POST", "Patient"), ("PUT", "DocumentReference")]
    # The Patient is looked for by NHS number first (conditional create), so one already there is reused.
    assert (
        fhir_server.requests[0].headers["If-None-Exist"] == f"identifier={codes.NHS_NUMBER_SYSTEM}|{patient.nhs_number}"
    )
    patient.refresh_from_db()
    document.refresh_from_db()
    assert patient.fhir_id == stored_patient["id"]
    assert document.fhir_id == stored["id"]
    assert document.fhir_version_id == "1"
    assert document.fhir_sync_state == SyncState.SYNCED
    assert document.fhir_synced_at is not None
    assert stored["status"] == "current"
    assert stored["subject"]["reference"] == f"Patient/{patient.fhir_id}"
    assert stored["masterIdentifier"] == {
        "use": "usual",
        "system": codes.QUILL_DOCUMENT_SYSTEM,
        "value": str(document.pk),
    }
    attachment = stored["content"][0]["attachment"]
    assert attachment["url"] == f"{PUBLIC_BASE}/fhir/r4/Binary/{document.pk}"
    assert attachment["size"] == len(data)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert "relatesTo" not in stored
    message.refresh_from_db()
    assert message.status == MessageStatus.DONE
    assert message.last_response["id"] == stored["id"]

    # Delivering again is a no-op; a fresh announcement updates the same resource.
    assert relay_message(message.pk) == "skipped"
    fhir_patient_count = len(fhir_server.requests_to("PUT", "Patient"))
    second = _clean_upload(clinician, patient, samples.pdf(1), title="Second")
    assert relay_message(_pending(second).pk) == "done"
    assert len(fhir_server.resources("DocumentReference")) == 2
    assert len(fhir_server.requests_to("PUT", "Patient")) == fhir_patient_count  # patient already known


def test_a_document_that_is_not_clean_is_never_sent(fhir_settings, fhir_server, administrator, patient):
    document = _upload(administrator, patient, samples.pdf(1))  # still pending its scan
    document_soft_delete(actor=administrator, document=document, reason="Uploaded to the wrong patient")
    message = _pending(document)

    assert relay_message(message.pk) == "done"

    assert fhir_server.requests == []
    message.refresh_from_db()
    assert "skipped" in message.last_response
    document.refresh_from_db()
    assert document.fhir_sync_state == SyncState.NOT_CONFIGURED


def test_nothing_is_queued_when_fhir_sync_is_off(settings, filesystem_storage, clinician, patient):
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_SCANNER = "clamd"
    document = _clean_upload(clinician, patient)
    assert not _messages(document).exists()
    assert document.fhir_sync_state == SyncState.NOT_CONFIGURED


def test_a_metadata_change_updates_the_same_resource(fhir_settings, fhir_server, clinician, patient):
    document = _clean_upload(clinician, patient)
    relay_message(_pending(document).pk)

    document_update(actor=clinician, document=document, title="Full blood count (repeat)")
    assert relay_message(_pending(document).pk) == "done"

    stored = _one(fhir_server, "DocumentReference")
    assert stored["content"][0]["attachment"]["title"] == "Full blood count (repeat)"
    assert stored["meta"]["versionId"] == "2"
    document.refresh_from_db()
    assert document.fhir_version_id == "2"


def test_the_identifier_subject_mode_sends_no_patient(fhir_settings, fhir_server, clinician, patient):
    fhir_settings.QUILL_FHIR_SUBJECT_MODE = "identifier"
    document = _clean_upload(clinician, patient)

    assert relay_message(_pending(document).pk) == "done"

    assert fhir_server.resources("Patient") == []
    stored = _one(fhir_server, "DocumentReference")
    assert stored["subject"]["identifier"] == {"system": codes.NHS_NUMBER_SYSTEM, "value": patient.nhs_number}


# --- Retries -------------------------------------------------------------------------------------


def test_a_retry_after_a_document_timeout_does_not_duplicate(fhir_settings, fhir_server, clinician, patient):
    fhir_settings.QUILL_FHIR_TIMEOUT_SECONDS = 0.5
    fhir_patient_announce(patient=patient)
    assert _relay_all() == ["done"]  # the patient is on the server first
    document = _clean_upload(clinician, patient)
    message = _pending(document)
    fhir_server.delay_next(2.0)  # the server stores the DocumentReference, then answers too late

    assert relay_message(message.pk) == MessageStatus.PENDING

    message.refresh_from_db()
    assert message.attempts == 1
    assert "Timed out" in message.last_error
    assert len(fhir_server.resources("DocumentReference")) == 1  # the write landed
    document.refresh_from_db()
    assert document.fhir_id == ""
    assert document.fhir_sync_state == SyncState.PENDING

    _make_due(message)
    assert relay_message(message.pk) == "done"

    stored = _one(fhir_server, "DocumentReference")
    assert stored["meta"]["versionId"] == "2"  # updated, not created again
    document.refresh_from_db()
    assert document.fhir_id == stored["id"]
    assert document.fhir_sync_state == SyncState.SYNCED


def test_a_retry_after_a_patient_timeout_does_not_duplicate_the_patient(fhir_settings, fhir_server, clinician, patient):
    fhir_settings.QUILL_FHIR_TIMEOUT_SECONDS = 0.5
    document = _clean_upload(clinician, patient)
    message = _pending(document)
    fhir_server.delay_next(2.0)  # the Patient POST comes first and times out

    assert relay_message(message.pk) == MessageStatus.PENDING
    assert len(fhir_server.resources("Patient")) == 1
    assert fhir_server.resources("DocumentReference") == []

    _make_due(message)
    assert relay_message(message.pk) == "done"

    stored_patient = _one(fhir_server, "Patient")
    assert _one(fhir_server, "DocumentReference")["subject"]["reference"] == f"Patient/{stored_patient['id']}"


@pytest.mark.parametrize(
    ("retry_after", "earliest", "latest"),
    [(None, 2.0, 4.0), ("120", 120.0, 121.0)],
    ids=["exponential-backoff", "honours-retry-after"],
)
def test_503_then_success_retries_with_backoff(
    fhir_settings, fhir_server, clinician, patient, retry_after, earliest, latest
):
    document = _clean_upload(clinician, patient)
    message = _pending(document)
    fhir_server.fail_next(1, status=503, retry_after=retry_after)

    before = timezone.now()
    assert relay_message(message.pk) == MessageStatus.PENDING

    message.refresh_from_db()
    assert message.attempts == 1
    assert "503" in message.last_error
    # Base 2 s, first retry: a jittered delay in [2, 4] s; never sooner than Retry-After.
    assert before + timedelta(seconds=earliest) <= message.next_attempt_at
    assert message.next_attempt_at <= timezone.now() + timedelta(seconds=latest)
    assert relay_message(message.pk) == "skipped"  # not due yet
    assert fhir_server.resources("DocumentReference") == []

    _make_due(message)
    assert relay_message(message.pk) == "done"
    _one(fhir_server, "DocumentReference")
    document.refresh_from_db()
    assert document.fhir_sync_state == SyncState.SYNCED


def test_a_400_dead_letters_with_the_operation_outcome_kept(fhir_settings, fhir_server, clinician, patient):
    fhir_patient_announce(patient=patient)
    _relay_all()
    document = _clean_upload(clinician, patient)
    message = _pending(document)
    fhir_server.reject_next(400)

    assert relay_message(message.pk) == "dead"

    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD
    assert message.attempts == 1
    assert "400" in message.last_error
    assert message.last_response["resourceType"] == "OperationOutcome"
    assert message.last_response["issue"][0]["diagnostics"] == "Injected fault 400"
    document.refresh_from_db()
    assert document.fhir_sync_state == SyncState.FAILED
    assert fhir_server.resources("DocumentReference") == []


def test_running_out_of_attempts_dead_letters_and_marks_the_document_failed(
    fhir_settings, fhir_server, clinician, patient
):
    fhir_settings.QUILL_OUTBOX_MAX_ATTEMPTS = 2
    document = _clean_upload(clinician, patient)
    message = _pending(document)
    fhir_server.fail_next(2, status=503)

    assert relay_message(message.pk) == MessageStatus.PENDING
    _make_due(message)
    assert relay_message(message.pk) == MessageStatus.DEAD

    message.refresh_from_db()
    assert message.attempts == 2
    document.refresh_from_db()
    assert document.fhir_sync_state == SyncState.FAILED


# --- Lifecycle -----------------------------------------------------------------------------------


def test_soft_delete_deletes_the_remote_copy(fhir_settings, fhir_server, clinician, administrator, patient):
    document = _clean_upload(clinician, patient)
    relay_message(_pending(document).pk)
    remote_id = _one(fhir_server, "DocumentReference")["id"]

    document_soft_delete(actor=administrator, document=document, reason="Filed against the wrong patient")
    assert relay_message(_pending(document).pk) == "done"

    # MHD's status value set has no entered-in-error, so the remote copy goes.
    assert fhir_server.resources("DocumentReference") == []
    assert [request.path for request in fhir_server.requests if request.method == "DELETE"] == [
        f"/fhir/DocumentReference/{remote_id}"
    ]
    document.refresh_from_db()
    assert document.fhir_sync_state == SyncState.SYNCED


def test_where_deletion_is_refused_the_remote_copy_becomes_entered_in_error_without_an_mhd_claim(
    fhir_settings, clinician, administrator, patient
):
    with FhirTestServer(refuse_deletes=True) as server:
        fhir_settings.QUILL_FHIR_BASE_URL = server.base_url
        document = _clean_upload(clinician, patient)
        relay_message(_pending(document).pk)

        document_soft_delete(actor=administrator, document=document, reason="Filed against the wrong patient")
        assert relay_message(_pending(document).pk) == "done"

        stored = _one(server, "DocumentReference")
        assert stored["status"] == "entered-in-error"
        assert "profile" not in stored["meta"]
        assert stored["meta"]["versionId"] == "2"
        update = next(
            request for request in server.requests if request.method == "PUT" and "If-Match" in request.headers
        )
        assert update.headers["If-Match"] == 'W/"1"'


def test_restoring_a_deleted_document_sends_it_again(fhir_settings, fhir_server, clinician, administrator, patient):
    document = _clean_upload(clinician, patient)
    relay_message(_pending(document).pk)
    document_soft_delete(actor=administrator, document=document, reason="Wrong patient")
    relay_message(_pending(document).pk)

    document_restore(actor=administrator, document=Document.objects.get(pk=document.pk))
    assert relay_message(_pending(document).pk) == "done"

    stored = _one(fhir_server, "DocumentReference")
    assert stored["status"] == "current"
    document.refresh_from_db()
    assert document.fhir_id == stored["id"]


def test_an_erasure_purge_deletes_the_remote_copy(fhir_settings, fhir_server, clinician, patient):
    document = _clean_upload(clinician, patient)
    relay_message(_pending(document).pk)
    remote_id = _one(fhir_server, "DocumentReference")["id"]
    ErasureRequest.objects.create(
        organisation_id=patient.organisation_id,
        patient=patient,
        requested_by="The patient",
        reason="Asked to be forgotten",
        decision=ErasureDecision.ACCEPTED,
        decision_reason="No retention applies",
    )
    Document.objects.filter(pk=document.pk).update(retain_until=date(2000, 1, 1))

    assert document_purge(document_id=document.pk, today=date(2030, 1, 1))
    assert relay_message(_pending(document).pk) == "done"

    assert fhir_server.resources("DocumentReference") == []
    assert [request.path for request in fhir_server.requests if request.method == "DELETE"] == [
        f"/fhir/DocumentReference/{remote_id}"
    ]


def test_an_update_carries_if_match_and_a_412_is_handled_by_re_reading(fhir_settings, fhir_server, clinician, patient):
    document = _clean_upload(clinician, patient)
    relay_message(_pending(document).pk)
    remote_id = _one(fhir_server, "DocumentReference")["id"]
    fhir_server.touch("DocumentReference", remote_id)  # someone else edits it there: version 2

    document_update(actor=clinician, document=Document.objects.get(pk=document.pk), title="Renal panel")
    assert relay_message(_pending(document).pk) == "done"

    stored = _one(fhir_server, "DocumentReference")
    assert stored["content"][0]["attachment"]["title"] == "Renal panel"
    assert stored["meta"]["versionId"] == "3"
    updates = [
        request for request in fhir_server.requests if request.method == "PUT" and request.path.endswith(remote_id)
    ]
    assert [request.headers["If-Match"] for request in updates] == ['W/"1"', 'W/"2"']
    assert [request.method for request in fhir_server.requests if request.path.endswith(remote_id)] == [
        "PUT",
        "GET",
        "PUT",
    ]
    document.refresh_from_db()
    assert document.fhir_version_id == "3"


def test_a_patient_already_registered_there_is_reused(fhir_settings, fhir_server, clinician, patient):
    registered = fhir_server.seed(
        "Patient",
        {
            "resourceType": "Patient",
            "identifier": [{"system": codes.NHS_NUMBER_SYSTEM, "value": patient.nhs_number}],
            "name": [{"family": patient.family_name}],
        },
    )
    document = _clean_upload(clinician, patient)

    assert relay_message(_pending(document).pk) == "done"

    assert _one(fhir_server, "Patient")["id"] == registered["id"]
    assert _one(fhir_server, "DocumentReference")["subject"]["reference"] == f"Patient/{registered['id']}"
    patient.refresh_from_db()
    assert patient.fhir_id == registered["id"]


def test_a_demographic_change_updates_the_linked_patient_with_if_match(fhir_settings, fhir_server, patient):
    relay_message(fhir_patient_announce(patient=patient).pk)
    patient.refresh_from_db()
    fhir_server.touch("Patient", patient.fhir_id)
    patient.family_name = "Corrected"
    patient.save(update_fields=["family_name"])

    relay_message(fhir_patient_announce(patient=patient).pk)

    stored = _one(fhir_server, "Patient")
    assert stored["name"][0]["family"] == "Corrected"
    update = next(request for request in fhir_server.requests if request.method == "PUT")
    assert update.headers["If-Match"] == 'W/"2"'


@pytest.mark.parametrize("status", ["current", "superseded"])
def test_statuses_sent_stay_within_mhds_value_set(fhir_settings, fhir_server, clinician, patient, status):
    first = _clean_upload(clinician, patient, samples.pdf(1))
    if status == "superseded":
        item = UploadRequest(spooled=spool([samples.pdf(3)], max_bytes=10**7), filename="v2.pdf", category="")
        document_record_scan(document=document_new_version(actor=clinician, current=first, item=item), clean=True)

    _relay_all()

    sent = [request.json()["status"] for request in fhir_server.requests if request.method == "PUT"]
    assert status in sent
    assert set(sent) <= {"current", "superseded"}


def test_a_new_version_supersedes_the_old_one_which_it_replaces(fhir_settings, fhir_server, clinician, patient):
    first = _clean_upload(clinician, patient, samples.pdf(1))
    _relay_all()
    item = UploadRequest(spooled=spool([samples.pdf(3)], max_bytes=10**7), filename="report-v2.pdf", category="")
    second = document_new_version(actor=clinician, current=first, item=item)
    document_record_scan(document=second, clean=True)

    assert _relay_all() == ["done", "done"]

    stored = fhir_server.resources("DocumentReference")
    by_quill_id = {resource["masterIdentifier"]["value"]: resource for resource in stored}
    assert set(by_quill_id) == {str(first.pk), str(second.pk)}
    assert by_quill_id[str(first.pk)]["status"] == "superseded"
    assert by_quill_id[str(second.pk)]["status"] == "current"
    # relatesTo.target is a reference to the replaced version's resource on that server.
    assert by_quill_id[str(second.pk)]["relatesTo"] == [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{by_quill_id[str(first.pk)]['id']}"}}
    ]


def test_a_patient_message_pushes_the_patient_and_stores_its_id(fhir_settings, fhir_server, patient):
    message = fhir_patient_announce(patient=patient)

    assert relay_message(message.pk) == "done"

    stored = _one(fhir_server, "Patient")
    assert {"system": codes.NHS_NUMBER_SYSTEM, "value": patient.nhs_number, "use": "official"} in stored["identifier"]
    patient.refresh_from_db()
    assert patient.fhir_id == stored["id"]


# --- resync_fhir ---------------------------------------------------------------------------------


def test_resync_fhir_requeues_failed_documents(fhir_settings, fhir_server, clinician, patient, capsys):
    fhir_patient_announce(patient=patient)
    _relay_all()
    failed = _clean_upload(clinician, patient, title="Will fail")
    fhir_server.reject_next(400)
    _relay_all()
    synced = _clean_upload(clinician, patient, title="Fine")
    _relay_all()
    dead = _messages(failed).get()
    assert dead.status == MessageStatus.DEAD

    call_command("resync_fhir", "--failed", "--dry-run")
    assert "Would re-queue 1 document(s)" in capsys.readouterr().out
    dead.refresh_from_db()
    assert dead.status == MessageStatus.DEAD

    call_command("resync_fhir", "--failed")
    assert "Re-queued 1 document(s)" in capsys.readouterr().out
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.last_error) == (MessageStatus.PENDING, 0, "")
    failed.refresh_from_db()
    assert failed.fhir_sync_state == SyncState.PENDING
    assert not _messages(synced).filter(status=MessageStatus.PENDING).exists()

    assert _relay_all() == ["done"]
    failed.refresh_from_db()
    assert failed.fhir_sync_state == SyncState.SYNCED
    assert len(fhir_server.resources("DocumentReference")) == 2


def test_resync_fhir_one_document_sends_it_again(fhir_settings, fhir_server, clinician, patient, capsys):
    document = _clean_upload(clinician, patient)
    _relay_all()

    call_command("resync_fhir", "--document", str(document.pk))

    assert "Re-queued 1 document(s)" in capsys.readouterr().out
    assert _relay_all() == ["done"]
    assert _one(fhir_server, "DocumentReference")["meta"]["versionId"] == "2"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--document", "not-a-uuid"], "is not a document id"),
        (["--document", "00000000-0000-0000-0000-000000000000"], "No document"),
    ],
    ids=["malformed-id", "unknown-id"],
)
def test_resync_fhir_refuses_unknown_documents(fhir_settings, arguments, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("resync_fhir", *arguments)
    assert refused.value.returncode == 2


def test_resync_fhir_refuses_a_pending_document(fhir_settings, clinician, patient):
    document = _upload(clinician, patient, samples.pdf(1))
    with pytest.raises(CommandError, match="not one Quill can send"):
        call_command("resync_fhir", "--document", str(document.pk))
    assert not _messages(document).exists()


def test_resync_fhir_needs_fhir_configured(settings):
    settings.QUILL_FHIR_BASE_URL = ""
    with pytest.raises(CommandError, match="QUILL_FHIR_BASE_URL"):
        call_command("resync_fhir", "--all")


def test_a_second_patient_gets_its_own_resource(fhir_settings, fhir_server, clinician, organisation):
    first, second = make_patient(organisation), make_patient(organisation)
    _clean_upload(clinician, first)
    _clean_upload(clinician, second)

    assert _relay_all() == ["done", "done"]

    assert len(fhir_server.resources("Patient")) == 2
    subjects = {resource["subject"]["reference"] for resource in fhir_server.resources("DocumentReference")}
    first.refresh_from_db()
    second.refresh_from_db()
    assert subjects == {f"Patient/{first.fhir_id}", f"Patient/{second.fhir_id}"}


def test_demographic_change_of_a_synced_patient_is_sent_again(settings, clinician, patient):
    # given FHIR sync is on and the patient already exists on the FHIR server
    from apps.outbox.models import OutboxMessage
    from apps.patients.services import patient_update

    settings.QUILL_FHIR_BASE_URL = "http://127.0.0.1:9/fhir"
    patient.fhir_id = "p-123"
    patient.save(update_fields=["fhir_id"])
    # when a clinician corrects the family name
    patient_update(actor=clinician, patient=patient, fields={"family_name": "Corrected"})
    # then one patient message is waiting in the outbox
    messages = OutboxMessage.objects.filter(target="fhir", kind="patient", object_id=str(patient.pk))
    assert messages.count() == 1
