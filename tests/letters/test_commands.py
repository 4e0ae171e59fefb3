import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.letters.services import letter_finalise
from apps.outbox.models import MessageStatus, OutboxMessage

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_upload_ehr_template_reports_created_then_already_there(ehrbase):
    ehrbase.templates.clear()

    assert "uploaded (created)" in _run("upload_ehr_template")
    assert "already there" in _run("upload_ehr_template")
    assert list(ehrbase.templates) == ["quill_letter.v1"]


def test_upload_ehr_template_fails_loudly_on_other_errors(ehrbase, settings):
    settings.QUILL_EHRBASE_PASSWORD = "wrong"

    with pytest.raises(CommandError, match="401"):
        _run("upload_ehr_template")


def test_upload_ehr_template_dry_run_sends_nothing(ehrbase):
    ehrbase.templates.clear()

    assert "Would upload template quill_letter.v1" in _run("upload_ehr_template", "--dry-run")
    assert ehrbase.requests == []


def test_upload_ehr_template_without_ehrbase_is_an_error(no_ehrbase):
    with pytest.raises(CommandError, match="QUILL_EHRBASE_URL"):
        _run("upload_ehr_template")


def test_resync_failed_requeues_dead_letter_pushes(ehrbase, write_final, patient):
    letter = write_final(patient)
    OutboxMessage.objects.filter(object_id=str(letter.pk)).update(status=MessageStatus.DEAD, attempts=8)

    dry = _run("resync_ehr", "--failed", "--dry-run")
    assert "would queue 1" in dry
    assert OutboxMessage.objects.get().status == MessageStatus.DEAD

    assert "queued 1" in _run("resync_ehr", "--failed")
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 0)


def test_resync_one_letter(ehrbase, write_final, patient):
    letter = write_final(patient)
    OutboxMessage.objects.update(status=MessageStatus.DONE)

    assert "queued 1" in _run("resync_ehr", "--letter", str(letter.pk))
    assert OutboxMessage.objects.filter(status=MessageStatus.PENDING).count() == 1
    assert "skipped 1" in _run("resync_ehr", "--letter", str(letter.pk))
    assert OutboxMessage.objects.filter(status=MessageStatus.PENDING).count() == 1


def test_resync_refuses_drafts_and_unknown_letters(ehrbase, draft):
    with pytest.raises(CommandError, match="draft"):
        _run("resync_ehr", "--letter", str(draft.pk))
    with pytest.raises(CommandError, match="No letter"):
        _run("resync_ehr", "--letter", str(uuid.uuid4()))


def test_resync_is_an_error_without_ehrbase(no_ehrbase, clinician, draft, document_files):
    letter_finalise(actor=clinician, letter=draft)

    with pytest.raises(CommandError):
        _run("resync_ehr", "--failed")
