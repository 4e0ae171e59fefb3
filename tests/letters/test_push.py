"""The openEHR push, end to end: finalise → outbox row → relay task → EHRbase stand-in on 127.0.0.1."""

import pytest
from django.utils import timezone

from apps.letters.models import Letter
from apps.letters.openehr.flat import KEY_REPORT_ID, KEY_STATUS, KEY_SUBJECT, KEY_SYNOPSIS
from apps.letters.services import letter_amend, letter_finalise, letter_update
from apps.outbox.models import MessageStatus, OutboxMessage
from apps.outbox.tasks import relay_message
from tests import factories

pytestmark = pytest.mark.django_db

NAMESPACE = "quill-test"


def _message(letter: Letter) -> OutboxMessage:
    return OutboxMessage.objects.get(target="openehr", kind="letter_composition", object_id=str(letter.pk))


def _relay(letter: Letter) -> str:
    """Run the relay task function now, as a worker would when the message is due."""
    message = _message(letter)
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    return relay_message(message.pk)


def _calls(server) -> list[tuple[str, str, int]]:
    return [(r.method, r.path.rsplit("/v1", 1)[-1], r.status) for r in server.requests]


def test_first_letter_creates_the_ehr_then_the_composition(ehrbase, write_final, patient):
    letter = write_final(patient, subject="Referral to physiotherapy", body="Please see this patient.")

    assert _relay(letter) == "done"

    letter.refresh_from_db()
    [ehr] = ehrbase.ehrs.values()
    assert (ehr.subject_id, ehr.namespace) == (str(patient.pk), NAMESPACE)
    assert letter.ehr_id == ehr.ehr_id
    [composition] = ehrbase.compositions_in(ehr.ehr_id)
    assert letter.composition_uid == composition.latest_uid
    assert letter.composition_uid.endswith("::quill-test::1")
    flat = composition.versions[-1]
    assert flat[KEY_REPORT_ID] == str(letter.pk)
    assert (flat[KEY_SUBJECT], flat[KEY_SYNOPSIS], flat[KEY_STATUS]) == (
        "Referral to physiotherapy",
        "Please see this patient.",
        "final",
    )
    ehr_path = f"/ehr/{ehr.ehr_id}"
    assert _calls(ehrbase) == [
        ("GET", "/ehr", 404),
        ("POST", "/ehr", 201),
        ("POST", "/query/aql", 200),
        ("POST", f"{ehr_path}/composition", 201),
    ]
    post = ehrbase.requests_to("POST", "/composition")[0]
    assert post.query == {"templateId": ["quill_letter.v1"], "format": ["FLAT"]}
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Prefer"] == "return=representation"
    message = _message(letter)
    assert (message.status, message.attempts) == (MessageStatus.DONE, 1)
    assert message.last_response["outcome"] == "created"


def test_a_second_letter_reuses_the_ehr(ehrbase, write_final, patient):
    first = write_final(patient, subject="First")
    _relay(first)
    second = write_final(patient, subject="Second")

    assert _relay(second) == "done"

    first.refresh_from_db()
    second.refresh_from_db()
    assert len(ehrbase.ehrs) == 1
    assert second.ehr_id == first.ehr_id
    assert len(ehrbase.requests_to("POST", "/ehr")) == 1
    assert len(ehrbase.compositions_in(first.ehr_id)) == 2
    assert second.composition_uid != first.composition_uid


def test_letters_of_two_patients_go_to_two_ehrs(ehrbase, write_final, patient, organisation):
    other = factories.make_patient(organisation, nhs_number=factories.VALID_NHS_NUMBERS[2])
    _relay(write_final(patient))
    _relay(write_final(other))

    assert sorted(ehr.subject_id for ehr in ehrbase.ehrs.values()) == sorted([str(patient.pk), str(other.pk)])


def test_a_lost_response_then_a_retry_yields_one_composition(ehrbase, write_final, patient, settings):
    settings.QUILL_EHRBASE_TIMEOUT_SECONDS = 0.5
    letter = write_final(patient)
    ehrbase.delay_next(1.5, method="POST", path_suffix="/composition")

    assert _relay(letter) == MessageStatus.PENDING  # timed out: stored by the server, answer lost

    letter.refresh_from_db()
    assert letter.composition_uid == ""
    assert len(ehrbase.compositions_in(letter.ehr_id)) == 1
    message = _message(letter)
    assert message.attempts == 1
    assert "timed out" in message.last_error

    assert _relay(letter) == "done"

    letter.refresh_from_db()
    [composition] = ehrbase.compositions_in(letter.ehr_id)
    assert letter.composition_uid == composition.latest_uid
    assert len(ehrbase.requests_to("POST", "/composition")) == 1
    assert _message(letter).last_response["outcome"] == "recovered"


def test_503_then_success(ehrbase, write_final, patient):
    letter = write_final(patient)
    ehrbase.fail_next(1, status=503, retry_after=7)

    assert _relay(letter) == MessageStatus.PENDING

    message = _message(letter)
    assert message.attempts == 1
    assert (message.next_attempt_at - timezone.now()).total_seconds() >= 6
    assert ehrbase.compositions == {}

    assert _relay(letter) == "done"

    letter.refresh_from_db()
    assert len(ehrbase.compositions) == 1
    assert letter.composition_uid
    assert _message(letter).attempts == 2


def test_an_amendment_updates_the_composition_with_if_match(ehrbase, write_final, patient, clinician):
    original = write_final(patient, subject="Clinic letter", body="Left knee.")
    _relay(original)
    original.refresh_from_db()
    amendment = letter_amend(actor=clinician, letter=original)
    letter_update(actor=clinician, letter=amendment, body="Right knee, not left.")
    amendment = letter_finalise(actor=clinician, letter=amendment)

    assert _relay(amendment) == "done"

    amendment.refresh_from_db()
    [composition] = ehrbase.compositions.values()
    assert len(composition.versions) == 2
    assert amendment.ehr_id == original.ehr_id
    assert amendment.composition_uid == composition.latest_uid
    assert amendment.composition_uid.endswith("::2")
    assert original.composition_uid.endswith("::1")
    [put] = ehrbase.requests_to("PUT", f"/composition/{composition.versioned_object_uid}")
    assert put.headers["If-Match"] == f'"{original.composition_uid}"'
    assert put.status == 200
    latest = composition.versions[-1]
    assert (latest[KEY_SYNOPSIS], latest[KEY_STATUS], latest[KEY_REPORT_ID]) == (
        "Right knee, not left.",
        "amended",
        str(amendment.pk),
    )
    assert len(ehrbase.requests_to("POST", "/composition")) == 1


def test_an_amendment_waits_for_the_original_to_be_sent(ehrbase, write_final, patient, clinician):
    original = write_final(patient)
    amendment = letter_finalise(actor=clinician, letter=letter_amend(actor=clinician, letter=original))

    assert _relay(amendment) == MessageStatus.PENDING
    assert ehrbase.compositions == {}

    _relay(original)
    assert _relay(amendment) == "done"

    [composition] = ehrbase.compositions.values()
    assert len(composition.versions) == 2


def test_an_amendment_whose_put_answer_was_lost_is_not_sent_twice(ehrbase, write_final, patient, clinician, settings):
    settings.QUILL_EHRBASE_TIMEOUT_SECONDS = 0.5
    original = write_final(patient)
    _relay(original)
    amendment = letter_finalise(actor=clinician, letter=letter_amend(actor=clinician, letter=original))
    ehrbase.delay_next(1.5, method="PUT")

    assert _relay(amendment) == MessageStatus.PENDING
    assert _relay(amendment) == "done"

    amendment.refresh_from_db()
    [composition] = ehrbase.compositions.values()
    assert len(composition.versions) == 2
    assert amendment.composition_uid == composition.latest_uid


def test_a_bad_template_id_is_refused_and_dead_lettered(ehrbase, write_final, patient, monkeypatch):
    monkeypatch.setattr("apps.letters.push.TEMPLATE_ID", "quill_letter.v0")
    letter = write_final(patient)

    assert _relay(letter) == "dead"

    message = _message(letter)
    assert (message.status, message.attempts) == (MessageStatus.DEAD, 1)
    assert message.last_response["status"] == 422
    assert "Unknown template" in message.last_response["body"]
    assert "422" in message.last_error
    assert ehrbase.compositions == {}
    letter.refresh_from_db()
    assert letter.composition_uid == ""


def test_retryable_failures_dead_letter_after_the_last_attempt(ehrbase, write_final, patient, settings):
    settings.QUILL_OUTBOX_MAX_ATTEMPTS = 2
    letter = write_final(patient)
    ehrbase.fail_next(2, status=502)

    assert _relay(letter) == MessageStatus.PENDING
    assert _relay(letter) == MessageStatus.DEAD

    assert _message(letter).status == MessageStatus.DEAD


def test_a_letter_already_sent_is_not_sent_again(ehrbase, write_final, patient):
    letter = write_final(patient)
    _relay(letter)
    OutboxMessage.objects.filter(pk=_message(letter).pk).update(status=MessageStatus.PENDING)

    assert _relay(letter) == "done"

    assert len(ehrbase.compositions) == 1
    assert len(ehrbase.requests_to("POST", "/composition")) == 1
    assert _message(letter).last_response["outcome"] == "already_sent"
