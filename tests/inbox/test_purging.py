"""Rejected items are kept for the organisation's keep days, then their bytes are purged; the row stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.files import storage
from apps.inbox.models import InboxItem, InboxSettings, ItemState
from apps.inbox.services.filing import inbox_reject
from apps.inbox.services.preparation import inbox_prepare
from apps.inbox.services.purging import inbox_purge_rejected
from apps.inbox.tasks import purge_rejected_inbox_items
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(filesystem_storage, settings, organisation, clinician):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation)

    def make(text: str, *, days_ago: int) -> InboxItem:
        item = receive(source, letter_pdf([text])).item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        inbox_reject(actor=clinician, item=item, reason="Not ours")
        InboxItem.objects.filter(pk=item.pk).update(closed_at=timezone.now() - timedelta(days=days_ago))
        item.refresh_from_db()
        return item

    return make


def test_rejected_items_past_the_keep_days_lose_their_bytes_and_keep_a_tombstone(rejected, organisation):
    InboxSettings.objects.create(organisation=organisation, rejected_keep_days=10)
    old, recent = rejected("old letter", days_ago=11), rejected("recent letter", days_ago=9)
    keys = [old.storage_key, old.thumbnail_key]
    assert all(keys)
    assert inbox_purge_rejected() == 1
    old.refresh_from_db()
    assert old.purged_at is not None and old.storage_key == "" and old.thumbnail_key == "" and old.text == ""
    assert old.state == ItemState.REJECTED and old.sha256 and old.closed_reason == "Not ours"
    for key in keys:
        with pytest.raises(FileNotFoundError):
            storage.read_bytes(key)
    recent.refresh_from_db()
    assert recent.purged_at is None and storage.read_bytes(recent.storage_key)
    event = AuditEvent.objects.get(action="inbox.item_purged")
    assert event.object_id == str(old.pk) and event.details["keep_days"] == 10
    assert inbox_purge_rejected() == 0  # once only


def test_the_default_keep_days_apply_when_the_organisation_set_none(rejected):
    kept = rejected("kept", days_ago=29)
    due = rejected("due", days_ago=31)
    assert purge_rejected_inbox_items() == 1
    assert InboxItem.objects.get(pk=due.pk).purged_at and not InboxItem.objects.get(pk=kept.pk).purged_at
    assert django_settings.CELERY_BEAT_SCHEDULE["purge-rejected-inbox-items"]["task"] == "inbox.purge_rejected"


def test_a_purged_items_content_answers_404(rejected, clinician):
    item = rejected("gone", days_ago=40)
    inbox_purge_rejected()
    client = factories.signed_in_client(clinician)
    assert client.get(f"/inbox/{item.pk}/content").status_code == 404
    assert client.get(f"/inbox/{item.pk}/thumbnail").status_code == 404
