"""POST /api/inbox/merge/: items merged into one new item; every bad input refused with its code, nothing changed."""

from __future__ import annotations

import uuid

import pikepdf
import pytest

from apps.audit.models import AuditEvent
from apps.files import storage
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.services.preparation import inbox_prepare
from tests import factories
from tests.inbox.helpers import letter_pdf, make_source, receive

pytestmark = pytest.mark.django_db
URL = "/api/inbox/merge/"


@pytest.fixture
def items(filesystem_storage, settings, organisation):
    settings.QUILL_SCANNER = "none"
    source = make_source(organisation)
    made = []
    for text in ("First page", "Second page", "Third page"):
        item = receive(source, letter_pdf([text]), filename=f"{text}.pdf").item
        inbox_prepare(item_id=item.pk)
        made.append(item)
    return made


def _state(root) -> tuple:
    objects = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    events = AuditEvent.objects.filter(action__startswith="inbox.item").exclude(action="inbox.item_viewed").count()
    return sorted(InboxItem.objects.values_list("pk", "state")), objects, events


def test_merge_answers_201_with_the_new_item(items, clinician, tmp_path):
    third, first = items[2], items[0]
    response = factories.token_client(clinician).post(URL, {"items": [str(third.pk), str(first.pk)]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    merged = InboxItem.objects.get(pk=body["id"])
    assert body["state"] == "ready" and body["content_type"] == "application/pdf" and body["merged_into"] is None
    path = tmp_path / "merged.pdf"
    path.write_bytes(storage.read_bytes(merged.storage_key))
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 2
    third.refresh_from_db()
    assert (third.state, third.merged_into_id, third.merge_position) == (ItemState.MERGED, merged.pk, 1)


def _refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    detail = response.json()["detail"]
    assert detail["error_code"] == code
    return detail


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(lambda items: {"items": [str(items[0].pk)]}, 400, "min_length", id="one-item"),
        pytest.param(lambda items: {"items": []}, 400, "min_length", id="no-items"),
        pytest.param(lambda items: {"items": ["not-a-uuid", str(items[0].pk)]}, 400, "invalid", id="not-a-uuid"),
        pytest.param(lambda items: {"items": str(items[0].pk)}, 400, "not_a_list", id="not-a-list"),
        pytest.param(lambda items: {}, 400, "invalid", id="missing"),
        pytest.param(
            lambda items: {"items": [str(items[0].pk), str(items[0].pk)]}, 400, "inbox_merge_invalid", id="twice"
        ),
        pytest.param(
            lambda items: {"items": [str(items[0].pk), str(items[1].pk)], "order": "reverse"},
            400,
            "unknown_field",
            id="unknown-field",
        ),
        pytest.param(lambda items: {"items": [str(items[0].pk), str(uuid.uuid4())]}, 404, "not_found", id="no-such"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(items, clinician, filesystem_storage, body, status, code):
    before = _state(filesystem_storage)
    response = factories.token_client(clinician).post(URL, body(items), format="json")
    _refused(response, status, code)
    assert _state(filesystem_storage) == before


def test_another_organisations_item_is_404_and_nothing_changes(
    items, clinician, other_organisation, filesystem_storage
):
    theirs = receive(make_source(other_organisation), letter_pdf(["Theirs"])).item
    before = _state(filesystem_storage)
    response = factories.token_client(clinician).post(URL, {"items": [str(items[0].pk), str(theirs.pk)]}, format="json")
    _refused(response, 404, "not_found")
    assert _state(filesystem_storage) == before


@pytest.mark.parametrize(
    ("state", "code"),
    [
        pytest.param(ItemState.FILED, "inbox_item_closed", id="filed"),
        pytest.param(ItemState.REJECTED, "inbox_item_closed", id="rejected"),
        pytest.param(ItemState.MERGED, "inbox_item_closed", id="merged"),
        pytest.param(ItemState.SCANNING, "inbox_item_not_ready", id="not-clean-yet"),
    ],
)
def test_an_item_not_ready_to_merge_is_409(items, clinician, filesystem_storage, state, code):
    InboxItem.objects.filter(pk=items[1].pk).update(state=state)
    before = _state(filesystem_storage)
    response = factories.token_client(clinician).post(
        URL, {"items": [str(items[0].pk), str(items[1].pk)]}, format="json"
    )
    detail = _refused(response, 409, code)
    assert items[1].original_filename in detail["message"]
    assert _state(filesystem_storage) == before


def test_billing_may_not_merge(items, billing_user, filesystem_storage):
    before = _state(filesystem_storage)
    response = factories.token_client(billing_user).post(
        URL, {"items": [str(items[0].pk), str(items[1].pk)]}, format="json"
    )
    _refused(response, 403, "permission_denied")
    assert _state(filesystem_storage) == before


def test_a_bad_id_in_the_list_is_named_by_its_position_in_the_schema_s_shape(items, clinician):
    response = factories.token_client(clinician).post(URL, {"items": [str(items[0].pk), "not-a-uuid"]}, format="json")
    detail = _refused(response, 400, "invalid")
    assert detail["fields"] == {"items": ["Item 2: Must be a valid UUID."]}
