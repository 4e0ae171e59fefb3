"""The outbox in the Django admin: read-only dead-letter list and the audited re-queue action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from tests.factories import signed_in_client

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:outbox_outboxmessage_changelist"


def _message(organisation, *, status=MessageStatus.DEAD, object_id="doc-1", **fields) -> OutboxMessage:
    """An outbox row created directly (the relay is exercised in tests/documents/test_fhir_sync.py)."""
    defaults = {
        "attempts": 3,
        "last_error": "The FHIR server rejected the DocumentReference (400): Injected fault 400.",
        "last_response": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]},
    }
    defaults.update(fields)
    return OutboxMessage.objects.create(
        organisation_id=organisation.pk,
        target=Target.FHIR,
        kind="document_reference",
        object_id=object_id,
        status=status,
        **defaults,
    )


def test_administrators_see_their_organisations_dead_letters(administrator, organisation, other_organisation):
    mine = _message(organisation, object_id="mine-1")
    _message(other_organisation, object_id="theirs-1")
    client = signed_in_client(administrator)

    response = client.get(reverse(CHANGELIST), {"status__exact": "dead"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "mine-1" in page
    assert "theirs-1" not in page
    detail = client.get(reverse("admin:outbox_outboxmessage_change", args=[mine.pk]))
    assert detail.status_code == 200
    assert "OperationOutcome" in detail.content.decode()
    assert "Injected fault 400" in detail.content.decode()


def test_messages_cannot_be_edited_added_or_deleted(administrator, organisation):
    message = _message(organisation)
    client = signed_in_client(administrator)

    response = client.post(
        reverse("admin:outbox_outboxmessage_change", args=[message.pk]), {"status": MessageStatus.DONE}
    )

    assert response.status_code == 403
    assert client.get(reverse("admin:outbox_outboxmessage_add")).status_code == 403
    assert client.get(reverse("admin:outbox_outboxmessage_delete", args=[message.pk])).status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD


def test_requeue_gives_dead_messages_a_fresh_start_and_is_audited(administrator, organisation):
    dead = _message(organisation, object_id="dead-1")
    done = _message(organisation, object_id="done-1", status=MessageStatus.DONE, last_error="")
    client = signed_in_client(administrator)

    response = client.post(
        reverse(CHANGELIST), {"action": "requeue", "_selected_action": [dead.pk, done.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Re-queued 1 message(s)." in response.content.decode()
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.last_error) == (MessageStatus.PENDING, 0, "")
    done.refresh_from_db()
    assert done.status == MessageStatus.DONE
    event = AuditEvent.objects.get(action="outbox.requeued")
    assert event.details == {"message_ids": [dead.pk], "via": "admin"}


def test_requeue_cannot_reach_another_organisations_messages(administrator, other_organisation):
    theirs = _message(other_organisation)
    client = signed_in_client(administrator)

    client.post(reverse(CHANGELIST), {"action": "requeue", "_selected_action": [theirs.pk]})

    theirs.refresh_from_db()
    assert theirs.status == MessageStatus.DEAD


def test_clinicians_have_no_outbox_admin(clinician, organisation):
    _message(organisation)
    response = signed_in_client(clinician).get(reverse(CHANGELIST))
    assert response.status_code in (302, 403)
