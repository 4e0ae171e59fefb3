import hashlib
from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.documents.models import Category, Document
from apps.letters.errors import (
    ClinicianRequired,
    LetterAlreadyAmended,
    LetterFinal,
    LetterIncomplete,
    LetterInvalid,
    LetterNotFinal,
)
from apps.letters.models import Letter, LetterStatus
from apps.letters.services import letter_amend, letter_create, letter_finalise, letter_update
from apps.outbox.models import MessageStatus, OutboxMessage
from tests import factories

from .helpers import denials, events, pdf_text_of, stored_files

pytestmark = pytest.mark.django_db


def test_create_makes_an_audited_draft(clinician, patient):
    letter = letter_create(actor=clinician, patient=patient, subject="  Referral  ", body="Dear colleague")

    assert letter.status == LetterStatus.DRAFT
    assert (letter.organisation_id, letter.patient_id, letter.author_id) == (
        patient.organisation_id,
        patient.pk,
        clinician.pk,
    )
    assert letter.subject == "Referral"
    [event] = events("letter.created")
    assert (event.object_id, event.patient_id, event.actor_id) == (str(letter.pk), patient.pk, clinician.pk)


@pytest.mark.parametrize("roles", [["billing"], ["administrator"]], ids=["billing", "administrator-only"])
def test_create_needs_the_clinician_role(organisation, patient, roles):
    user = factories.make_user(organisation, roles)

    with pytest.raises(ClinicianRequired) as excinfo:
        letter_create(actor=user, patient=patient, subject="x")

    assert excinfo.value.http_status == 403
    assert not Letter.objects.exists()
    [denied] = denials(actor_id=user.pk)
    assert denied.details["attempted"] == "letter.create"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"subject": "x" * 256}, "subject"),
        ({"clinical_date": date.today() + timedelta(days=2)}, "clinical_date"),
        ({"status": "final"}, "status"),
        ({"body": 42}, "body"),
    ],
    ids=["subject-too-long", "future-date", "not-editable", "not-text"],
)
def test_create_refuses_bad_values_and_stores_nothing(clinician, patient, values, field):
    with pytest.raises(LetterInvalid) as excinfo:
        letter_create(actor=clinician, patient=patient, **values)

    assert excinfo.value.error_code == "letter_invalid"
    assert field in excinfo.value.fields
    assert not Letter.objects.exists()
    assert events("letter.created") == []


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("recipient_name", 200),
        ("recipient_role", 200),
        ("recipient_address", 2000),
        ("subject", 255),
        ("body", 100_000),
        ("encounter_id", 64),
    ],
    ids=lambda value: str(value),
)
def test_create_takes_each_field_up_to_the_model_limit_and_refuses_one_more(clinician, patient, field, limit):
    letter = letter_create(actor=clinician, patient=patient, **{field: "x" * limit})
    assert len(getattr(letter, field)) == limit

    with pytest.raises(LetterInvalid) as excinfo:
        letter_create(actor=clinician, patient=patient, **{field: "x" * (limit + 1)})

    assert list(excinfo.value.fields) == [field]
    assert f"longer than {limit:,} characters" in excinfo.value.fields[field]
    assert Letter.objects.count() == 1


def test_update_changes_a_draft_and_audits_the_field_names(clinician, draft):
    letter = letter_update(actor=clinician, letter=draft, body="New text", subject=draft.subject)

    assert Letter.objects.get(pk=draft.pk).body == "New text"
    [event] = events("letter.updated")
    assert event.details == {"fields": ["body"]}
    assert "New text" not in str(event.details)
    assert letter.body == "New text"


def test_update_without_a_change_writes_no_event(clinician, draft):
    letter_update(actor=clinician, letter=draft, subject=draft.subject)

    assert events("letter.updated") == []


def test_a_final_letter_is_immutable(clinician, write_final, patient):
    letter = write_final(patient, body="Original text")

    with pytest.raises(LetterFinal) as excinfo:
        letter_update(actor=clinician, letter=letter, body="Changed")

    assert (excinfo.value.http_status, excinfo.value.error_code) == (409, "letter_final")
    assert Letter.objects.get(pk=letter.pk).body == "Original text"
    assert events("letter.updated") == []


def test_update_of_a_stale_draft_object_sees_the_final_row(clinician, draft, document_files):
    stale = Letter.objects.get(pk=draft.pk)
    letter_finalise(actor=clinician, letter=draft)

    with pytest.raises(LetterFinal):
        letter_update(actor=clinician, letter=stale, body="too late")


@pytest.mark.parametrize(
    ("blank", "field", "words"),
    [
        ({"subject": ""}, "subject", "subject"),
        ({"body": "   \n"}, "body", "letter text"),
        ({"recipient_name": ""}, "recipient_name", "recipient"),
    ],
    ids=["subject", "body", "recipient"],
)
def test_finalise_names_what_is_missing_and_stores_nothing(clinician, draft, document_files, blank, field, words):
    letter_update(actor=clinician, letter=draft, **blank)

    with pytest.raises(LetterIncomplete) as excinfo:
        letter_finalise(actor=clinician, letter=draft)

    assert (excinfo.value.http_status, excinfo.value.error_code) == (400, "letter_incomplete")
    assert list(excinfo.value.fields) == [field]
    assert words in excinfo.value.message.lower()
    assert Letter.objects.get(pk=draft.pk).status == LetterStatus.DRAFT
    assert not Document.objects.exists()
    assert stored_files(document_files) == []
    assert events("letter.finalised") == []


def test_finalise_stores_the_pdf_as_a_letter_document(clinician, patient, draft, document_files, no_ehrbase):
    letter = letter_finalise(actor=clinician, letter=draft)

    letter.refresh_from_db()
    assert letter.status == LetterStatus.FINAL
    assert letter.finalised_at is not None
    document = Document.objects.get(pk=letter.document_id)
    assert (document.category, document.title, document.document_date) == (
        Category.LETTER,
        "Knee pain follow-up",
        date(2024, 5, 1),
    )
    assert (document.patient_id, document.uploaded_by_id, document.content_type) == (
        patient.pk,
        clinician.pk,
        "application/pdf",
    )
    [path] = stored_files(document_files)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == document.sha256
    text = pdf_text_of(document)
    assert patient.display_name in text
    assert "Knee pain follow-up" in text
    assert "The knee is improving." in text
    assert "Continue physiotherapy" in text
    assert len(events("letter.finalised")) == 1
    assert len(events("document.uploaded", object_id=str(document.pk))) == 1
    assert not OutboxMessage.objects.exists()  # EHRbase not configured


def test_finalise_writes_the_openehr_outbox_message_when_configured(clinician, draft, document_files, settings):
    settings.QUILL_EHRBASE_URL = "http://127.0.0.1:9/ehrbase/rest/openehr/v1"

    letter_finalise(actor=clinician, letter=draft)

    [message] = OutboxMessage.objects.all()
    assert (message.target, message.kind, message.object_id, message.status) == (
        "openehr",
        "letter_composition",
        str(draft.pk),
        MessageStatus.PENDING,
    )
    assert message.organisation_id == draft.organisation_id


def test_finalise_is_all_or_nothing_when_a_step_after_the_upload_fails(
    clinician, draft, document_files, settings, monkeypatch
):
    settings.QUILL_EHRBASE_URL = "http://127.0.0.1:9/ehrbase/rest/openehr/v1"

    def broken_outbox(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("apps.letters.services.outbox_enqueue", broken_outbox)

    with pytest.raises(RuntimeError):
        letter_finalise(actor=clinician, letter=draft)

    assert Letter.objects.get(pk=draft.pk).status == LetterStatus.DRAFT
    assert Letter.objects.get(pk=draft.pk).document_id is None
    assert not Document.objects.exists()
    assert stored_files(document_files) == []
    assert events("letter.finalised") == []
    assert events("document.uploaded") == []


def test_finalise_twice_is_refused(clinician, draft, document_files):
    letter_finalise(actor=clinician, letter=draft)

    with pytest.raises(LetterFinal):
        letter_finalise(actor=clinician, letter=draft)

    assert Document.objects.count() == 1


def test_finalise_needs_a_clinician(organisation, draft, document_files):
    administrator = factories.make_user(organisation, ["administrator"])

    with pytest.raises(ClinicianRequired):
        letter_finalise(actor=administrator, letter=draft)

    assert Letter.objects.get(pk=draft.pk).status == LetterStatus.DRAFT
    assert len(denials(actor_id=administrator.pk)) == 1


def test_amend_starts_a_prefilled_draft_and_reuses_it(clinician, patient, write_final):
    original = write_final(patient, subject="Clinic letter", body="Left knee.")

    amendment = letter_amend(actor=clinician, letter=original)
    again = letter_amend(actor=clinician, letter=original)

    assert again.pk == amendment.pk
    assert amendment.status == LetterStatus.DRAFT
    assert amendment.amends_id == original.pk
    assert (amendment.subject, amendment.body, amendment.recipient_name) == (
        "Clinic letter",
        "Left knee.",
        "Dr J Smith",
    )
    assert len(events("letter.created", object_id=str(amendment.pk))) == 1


def test_an_amendment_pdf_is_the_next_version_of_the_original_document(clinician, patient, write_final):
    original = write_final(patient, subject="Clinic letter", body="Left knee.")
    amendment = letter_amend(actor=clinician, letter=original)
    letter_update(actor=clinician, letter=amendment, body="Right knee.")

    amendment = letter_finalise(actor=clinician, letter=amendment)

    old, new = Document.objects.get(pk=original.document_id), Document.objects.get(pk=amendment.document_id)
    assert (old.is_current, new.is_current, new.supersedes_id, new.version_number) == (False, True, old.pk, 2)
    text = pdf_text_of(new)
    assert "Right knee." in text
    assert "corrects and replaces" in text


def test_amend_refuses_drafts_and_superseded_letters(clinician, patient, draft, write_final):
    with pytest.raises(LetterNotFinal):
        letter_amend(actor=clinician, letter=draft)
    original = write_final(patient)
    letter_finalise(actor=clinician, letter=letter_amend(actor=clinician, letter=original))

    with pytest.raises(LetterAlreadyAmended):
        letter_amend(actor=clinician, letter=original)


def test_finalise_refuses_a_future_clinical_date(clinician, draft, document_files):
    Letter.objects.filter(pk=draft.pk).update(clinical_date=timezone.localdate() + timedelta(days=1))

    with pytest.raises(LetterIncomplete) as excinfo:
        letter_finalise(actor=clinician, letter=draft)

    assert list(excinfo.value.fields) == ["clinical_date"]


def test_finalise_succeeds_when_the_task_broker_is_down(
    clinician, draft, document_files, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.QUILL_EHRBASE_URL = "http://127.0.0.1:9/ehrbase/rest/openehr/v1"

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("apps.outbox.tasks.relay_message.apply_async", broker_down)
    monkeypatch.setattr("apps.documents.tasks.scan_document.apply_async", broker_down)
    monkeypatch.setattr("apps.documents.tasks.make_document_thumbnail.apply_async", broker_down)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        letter_finalise(actor=clinician, letter=draft)

    assert len(callbacks) >= 2  # the scan and the relay were both attempted after commit
    assert Letter.objects.get(pk=draft.pk).status == LetterStatus.FINAL
    assert OutboxMessage.objects.get().status == MessageStatus.PENDING  # relay_due will pick it up


def test_a_colleague_who_finalises_a_draft_signs_it(organisation, clinician, patient, draft, document_files):
    # given Dr Ada Lovelace's draft, finished by a colleague
    clinician.full_name = "Dr Ada Lovelace"
    clinician.save(update_fields=["full_name"])
    colleague = factories.make_user(organisation, ["clinician"], full_name="Dr Grace Hopper")
    letter_update(actor=colleague, letter=draft, body="The knee is improving. Seen by Dr Hopper.")

    # when the colleague finalises it
    letter = letter_finalise(actor=colleague, letter=draft)

    # then the letter keeps its author, records its signatory, and the PDF names the signatory
    letter.refresh_from_db()
    assert (letter.author_id, letter.signed_by_id) == (clinician.pk, colleague.pk)
    text = pdf_text_of(Document.objects.get(pk=letter.document_id))
    assert "Dr Grace Hopper" in text
    assert "Dr Ada Lovelace" not in text
    (event,) = events("letter.finalised")
    assert (event.actor_id, event.details["author_id"], event.details["signed_by_id"]) == (
        colleague.pk,
        clinician.pk,
        colleague.pk,
    )


def test_the_letter_page_says_who_signed_and_who_drafted(organisation, clinician, patient, draft, document_files):
    colleague = factories.make_user(organisation, ["clinician"], full_name="Dr Grace Hopper")
    letter = letter_finalise(actor=colleague, letter=draft)

    page = factories.signed_in_client(clinician).get(f"/letters/{letter.pk}/").content.decode()

    assert f"Signed by Dr Grace Hopper (drafted by {clinician.full_name})" in page
