"""The FHIR server and EHRbase are unreachable for a while: outbox messages stay pending and
retry with backoff, then arrive exactly once when the server is back.

The in-test servers (tests/fhir/fhir_server.py, tests/letters/openehr_server.py) sit
behind a TCP relay that closes its port ("down": connection refused, as with a stopped
server) and opens the same port again, so Quill's configured URL never changes. The relay
task function runs the way a worker runs it; "time passing" is making messages due again.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone

from apps.documents.models import Document, SyncState
from apps.documents.services import UploadRequest, document_record_scan, document_upload
from apps.files.spooling import spool
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from apps.outbox.tasks import relay_message
from tests.documents import samples
from tests.fhir.fhir_server import FhirTestServer
from tests.letters.openehr_server import FakeEhrbase
from tests.services.storage import filesystem_settings

pytestmark = pytest.mark.django_db

OUTAGE_ROUNDS = 3
EHR_USER, EHR_PASSWORD = "quill", "s3cret-ehr"


def _relay_due(target: str) -> list[str]:
    """Make every pending message of `target` due now and relay it (what relay_due and a worker do)."""
    pending = OutboxMessage.objects.filter(target=target, status=MessageStatus.PENDING).order_by("pk")
    ids = list(pending.values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())
    return [relay_message(pk) for pk in ids]


@pytest.fixture
def outbox_settings(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    settings.QUILL_OUTBOX_MAX_ATTEMPTS = 8
    settings.QUILL_OUTBOX_BACKOFF_BASE_SECONDS = 2.0
    settings.QUILL_OUTBOX_BACKOFF_MAX_SECONDS = 600.0
    settings.QUILL_PUBLIC_BASE_URL = "https://quill.example"  # outbound sync refuses to guess its own links
    return settings


def test_fhir_server_down_for_a_while_then_one_document_reference(outbox_settings, relay_factory, clinician, patient):
    with FhirTestServer() as server:
        # given Quill syncing to the FHIR server through a relay, and a document just scanned clean
        host_port = server.base_url.split("/")[2].split(":")
        relay = relay_factory((host_port[0], int(host_port[1])))
        outbox_settings.QUILL_FHIR_BASE_URL = f"http://127.0.0.1:{relay.port}/fhir"
        outbox_settings.QUILL_FHIR_TIMEOUT_SECONDS = 2.0
        outbox_settings.QUILL_SCANNER = "clamd"
        data = samples.pdf(1)
        item = UploadRequest(spooled=spool([data], max_bytes=len(data) + 1), filename="fbc.pdf", category="lab")
        document = document_upload(actor=clinician, patient=patient, item=item)
        document_record_scan(document=document, clean=True)
        # when the server is down for several delivery rounds
        relay.down()
        for attempt in range(1, OUTAGE_ROUNDS + 1):
            assert set(_relay_due(Target.FHIR)) == {MessageStatus.PENDING}
            message = OutboxMessage.objects.get(target=Target.FHIR, object_id=str(document.pk))
            assert message.attempts == attempt
            assert message.next_attempt_at > timezone.now(), "backed off, not hammering"
            assert "connect" in message.last_error.lower()
        assert server.resources("DocumentReference") == []
        assert Document.objects.get(pk=document.pk).fhir_sync_state == SyncState.PENDING
        # then it arrives once when the server is back, and a repeat changes nothing
        relay.up()
        assert set(_relay_due(Target.FHIR)) == {"done"}
        assert len(server.resources("DocumentReference")) == 1
        assert len(server.resources("Patient")) == 1
        assert len(server.requests_to("PUT", "DocumentReference")) == 1
        assert _relay_due(Target.FHIR) == []
        assert relay_message(OutboxMessage.objects.get(target=Target.FHIR, object_id=str(document.pk)).pk) == "skipped"
        document.refresh_from_db()
        assert document.fhir_sync_state == SyncState.SYNCED and document.fhir_id
        assert OutboxMessage.objects.get(target=Target.FHIR, object_id=str(document.pk)).attempts == OUTAGE_ROUNDS + 1


def test_ehrbase_down_for_a_while_then_one_composition(outbox_settings, relay_factory, clinician, patient):
    from apps.letters.openehr.client import EhrbaseClient
    from apps.letters.openehr.template import load_letter_template
    from apps.letters.services import letter_create, letter_finalise

    with FakeEhrbase(username=EHR_USER, password=EHR_PASSWORD) as server:
        # given Quill pushing letters to EHRbase through a relay, and a letter just finalised
        EhrbaseClient(server.base_url, username=EHR_USER, password=EHR_PASSWORD, timeout=2).upload_template(
            load_letter_template()
        )
        host, port = server.base_url.split("/")[2].split(":")
        relay = relay_factory((host, int(port)))
        path = server.base_url.split("/", 3)[3]
        outbox_settings.QUILL_EHRBASE_URL = f"http://127.0.0.1:{relay.port}/{path}"
        outbox_settings.QUILL_EHRBASE_USERNAME = EHR_USER
        outbox_settings.QUILL_EHRBASE_PASSWORD = EHR_PASSWORD
        outbox_settings.QUILL_EHRBASE_SUBJECT_NAMESPACE = "quill-test"
        outbox_settings.QUILL_EHRBASE_TIMEOUT_SECONDS = 2.0
        letter = letter_create(
            actor=clinician,
            patient=patient,
            recipient_name="Dr J Smith",
            subject="Clinic letter",
            body="Seen in clinic today.",
            clinical_date=date(2024, 5, 1),
        )
        letter = letter_finalise(actor=clinician, letter=letter)
        # when EHRbase is down for several delivery rounds
        relay.down()
        for attempt in range(1, OUTAGE_ROUNDS + 1):
            assert _relay_due(Target.OPENEHR) == [MessageStatus.PENDING]
            message = OutboxMessage.objects.get(target=Target.OPENEHR, object_id=str(letter.pk))
            assert message.attempts == attempt and message.next_attempt_at > timezone.now()
        assert server.compositions == {}
        # then it arrives once when EHRbase is back, and a repeat changes nothing
        relay.up()
        assert _relay_due(Target.OPENEHR) == ["done"]
        assert len(server.compositions) == 1
        assert len([r for r in server.requests if r.method == "POST" and "/composition" in r.path]) == 1
        assert _relay_due(Target.OPENEHR) == []
        letter.refresh_from_db()
        assert letter.composition_uid
