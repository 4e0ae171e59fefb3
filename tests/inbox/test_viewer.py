"""The inbox item page shows the portal's document viewer (the document page's own), fed by the item's pages."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from apps.audit.models import AuditEvent
from apps.files import storage
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.filing import inbox_reject
from apps.inbox.services.preparation import inbox_prepare
from apps.inbox.services.purging import inbox_purge_rejected
from apps.operations.integrity import known_keys
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(filesystem_storage, settings, organisation):
    settings.QUILL_SCANNER = "none"
    made = receive(make_source(organisation), letter_pdf(["Clinic letter"], ["Page two"], ["Page three"])).item
    inbox_prepare(item_id=made.pk)
    made.refresh_from_db()
    return made


def test_the_item_page_has_the_document_viewer_beside_the_filing_form(item, clinician):
    html = factories.signed_in_client(clinician).get(f"/inbox/{item.pk}/").content.decode()
    assert "data-viewer" in html and 'data-kind="pdf"' in html
    assert f'data-page-url="/inbox/{item.pk}/pages/1/standard.webp"' in html
    assert "data-thumbs" in html and "data-zoom-level" in html and "data-page-next" in html  # pages, zoom, thumbnails
    assert "annotate.js" in html and "documents.css" in html
    assert "data-api-url" not in html and 'data-readonly="true"' in html  # no annotations on an inbox item
    assert html.index("data-viewer") < html.index("File to a patient")


def test_a_page_is_served_as_webp_with_what_the_viewer_needs_and_audited(item, clinician):
    client = factories.signed_in_client(clinician)
    response = client.get(f"/inbox/{item.pk}/pages/2/thumb.webp")
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert response["X-Page-Count"] == "3" and len(response["X-Page-Size"].split()) == 2
    assert response["Cache-Control"] == "private, no-cache" and response["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.content)).width == 240
    event = AuditEvent.objects.filter(action="inbox.item_viewed").latest("pk")
    assert event.details["page"] == 2 and event.details["size"] == "thumb"
    assert event.details["served"] == "rendered"
    again = client.get(f"/inbox/{item.pk}/pages/2/thumb.webp", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_a_page_is_rendered_once_and_kept_beside_the_item_until_it_is_purged(item, clinician):
    client = factories.signed_in_client(clinician)
    first = client.get(f"/inbox/{item.pk}/pages/1/standard.webp")
    second = client.get(f"/inbox/{item.pk}/pages/1/standard.webp")
    assert first.content == second.content
    served = list(AuditEvent.objects.filter(action="inbox.item_viewed", details__page=1).values_list(
        "details__served", flat=True
    ).order_by("pk"))  # fmt: skip
    assert served == ["rendered", "stored"]
    [kept] = list(storage.list_keys(storage.renditions_prefix(item.storage_key)))
    assert known_keys([kept[0]]) == {kept[0]}  # not an orphan while the item holds its bytes
    # when the rejected item's keep period is over, its pages go with its bytes
    inbox_reject(actor=clinician, item=item, reason="Not ours")
    assert inbox_purge_rejected(now=timezone.now() + timedelta(days=365)) == 1
    assert list(storage.list_keys(storage.renditions_prefix(item.storage_key))) == []


@pytest.mark.parametrize(
    ("path", "state"),
    [
        pytest.param("pages/4/standard.webp", ItemState.READY, id="no-such-page"),
        pytest.param("pages/1/enormous.webp", ItemState.READY, id="no-such-size"),
        pytest.param("pages/1/standard.webp", ItemState.SCANNING, id="before-its-virus-check"),
        pytest.param("pages/1/standard.webp", ItemState.INFECTED, id="quarantined"),
    ],
)
def test_pages_that_cannot_be_shown_are_404(item, clinician, path, state):
    InboxItem.objects.filter(pk=item.pk).update(state=state)
    response = factories.signed_in_client(clinician).get(f"/inbox/{item.pk}/{path}")
    assert response.status_code == 404
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_another_organisations_item_pages_are_404_and_billing_is_403(item, other_clinician, billing_user):
    assert factories.signed_in_client(other_clinician).get(f"/inbox/{item.pk}/pages/1/standard.webp").status_code == 404
    assert factories.signed_in_client(billing_user).get(f"/inbox/{item.pk}/pages/1/standard.webp").status_code == 403


def test_an_image_item_is_shown_in_the_viewer_from_its_own_bytes(filesystem_storage, settings, organisation, clinician):
    settings.QUILL_SCANNER = "none"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "blue").save(buffer, format="PNG")
    made = receive(make_source(organisation), buffer.getvalue(), filename="photo.png").item
    html = factories.signed_in_client(clinician).get(f"/inbox/{made.pk}/").content.decode()
    assert 'data-kind="image"' in html and f'src="/inbox/{made.pk}/content?disposition=inline"' in html
    assert "data-thumbs" not in html
