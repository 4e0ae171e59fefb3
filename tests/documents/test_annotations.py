"""Annotations: the API (create, list, delete), geometry checks, who may delete, and the audit trail."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.documents.models import Annotation
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def document(filesystem_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=samples.pdf(2), category="lab")


def _url(document, annotation_id=None) -> str:
    if annotation_id is None:
        return f"/api/documents/{document.pk}/annotations/"
    return f"/api/documents/{document.pk}/annotations/{annotation_id}/"


def _add(client, document, **body):
    payload = {"kind": "marker", "page": 1, "geometry": {"x": 0.5, "y": 0.25}, **body}
    return client.post(_url(document), payload, format="json")


@pytest.mark.parametrize(
    ("kind", "geometry", "text"),
    [
        pytest.param("marker", {"x": 0.1, "y": 0.9}, "", id="marker"),
        pytest.param("highlight", {"x": 0.1, "y": 0.2, "width": 0.5, "height": 0.1}, "", id="highlight"),
        pytest.param("drawing", {"points": [[0.1, 0.1], [0.2, 0.25], [0.3, 0.2]]}, "", id="drawing"),
        pytest.param("text", {"x": 0.4, "y": 0.4}, "Query raised potassium", id="text"),
    ],
)
def test_each_kind_is_stored_listed_and_audited(document, clinician, kind, geometry, text):
    client = factories.token_client(clinician)
    created = _add(client, document, kind=kind, page=2, geometry=geometry, text=text)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["page"], body["geometry"], body["text"]) == (kind, 2, geometry, text)
    assert body["author"]["id"] == clinician.pk and body["can_delete"] is True
    annotation = Annotation.objects.get(pk=body["id"])
    assert (annotation.document_id, annotation.author_id) == (document.pk, clinician.pk)
    event = AuditEvent.objects.get(action="annotation.created", object_id=body["id"])
    assert event.details == {"document_id": str(document.pk), "kind": kind, "page": 2}
    listed = client.get(_url(document)).json()["results"]
    assert [item["id"] for item in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"kind": "arrow"}, "kind", id="unknown-kind"),
        pytest.param({"geometry": {"x": 1.5, "y": 0.2}}, "on the page", id="off-page"),
        pytest.param({"geometry": {"x": "left", "y": 0.2}}, "number", id="not-a-number"),
        pytest.param(
            {"kind": "highlight", "geometry": {"x": 0.1, "y": 0.1, "width": 0, "height": 0.2}},
            "width",
            id="empty-highlight",
        ),
        pytest.param(
            {"kind": "highlight", "geometry": {"x": 0.8, "y": 0.1, "width": 0.5, "height": 0.2}},
            "on the page",
            id="highlight-off-page",
        ),
        pytest.param({"kind": "drawing", "geometry": {"points": [[0.1, 0.1]]}}, "2 to", id="one-point-drawing"),
        pytest.param({"kind": "text", "geometry": {"x": 0.1, "y": 0.1}, "text": "  "}, "text", id="empty-note"),
        pytest.param({"page": 0}, "page", id="page-zero"),
        pytest.param({"geometry": [0.1, 0.2]}, "object", id="geometry-not-object"),
    ],
)
def test_invalid_annotations_are_refused_and_nothing_isstored_document(document, clinician, body, fragment):
    response = _add(factories.token_client(clinician), document, **body)
    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "annotation_invalid"
    assert fragment in response.json()["detail"]["message"]
    assert not Annotation.objects.exists()
    assert not AuditEvent.objects.filter(action="annotation.created").exists()


def test_an_image_has_only_page_one(filesystem_storage, clinician, patient):
    image = stored_document(user=clinician, patient=patient, data=samples.png(), filename="a.png", category="photo")
    response = _add(factories.token_client(clinician), image, page=2)
    assert response.status_code == 400 and response.json()["detail"]["error_code"] == "annotation_invalid"


def test_author_may_delete_and_it_is_audited(document, clinician):
    client = factories.token_client(clinician)
    annotation_id = _add(client, document).json()["id"]
    response = client.delete(_url(document, annotation_id))
    assert response.status_code == 204
    assert not Annotation.objects.filter(pk=annotation_id).exists()
    event = AuditEvent.objects.get(action="annotation.deleted", object_id=annotation_id)
    assert event.details["author_id"] == clinician.pk and event.details["document_id"] == str(document.pk)


def test_administrator_may_delete_anyones_annotation(document, clinician, administrator):
    annotation_id = _add(factories.token_client(clinician), document).json()["id"]
    assert factories.token_client(administrator).delete(_url(document, annotation_id)).status_code == 204
    assert not Annotation.objects.filter(pk=annotation_id).exists()


def test_another_clinician_may_not_delete_and_the_refusal_is_audited(document, clinician, organisation):
    colleague = factories.make_user(organisation, ["clinician"])
    annotation_id = _add(factories.token_client(clinician), document).json()["id"]
    colleague_client = factories.token_client(colleague)
    listed = colleague_client.get(_url(document)).json()["results"]
    assert listed[0]["can_delete"] is False
    response = colleague_client.delete(_url(document, annotation_id))
    assert response.status_code == 403
    assert response.json()["detail"]["error_code"] == "permission_denied"
    assert Annotation.objects.filter(pk=annotation_id).exists()
    denial = AuditEvent.objects.get(action="access.denied", object_id=annotation_id)
    assert denial.outcome == "denied" and denial.details["reason"] == "not_author"


def test_another_organisation_gets_404_for_everything(document, clinician, other_clinician):
    annotation_id = _add(factories.token_client(clinician), document).json()["id"]
    outsider = factories.token_client(other_clinician)
    assert outsider.get(_url(document)).status_code == 404
    assert _add(outsider, document).status_code == 404
    assert outsider.delete(_url(document, annotation_id)).status_code == 404
    assert Annotation.objects.count() == 1


def test_billing_gets_403_on_clinical_documents_but_may_annotate_insurance(
    filesystem_storage, document, clinician, billing_user, patient
):
    annotation_id = _add(factories.token_client(clinician), document).json()["id"]
    billing = factories.token_client(billing_user)
    assert billing.get(_url(document)).status_code == 403
    assert _add(billing, document).status_code == 403
    assert billing.delete(_url(document, annotation_id)).status_code == 403
    claim = stored_document(user=clinician, patient=patient, data=samples.pdf(), category="insurance")
    assert _add(billing, claim).status_code == 201


def test_unknown_annotation_is_404(document, clinician):
    response = factories.token_client(clinician).delete(_url(document, "7b0e3b4a-51b4-4a8f-9b31-0a0d1f7a5c11"))
    assert response.status_code == 404


def test_pending_or_deleted_documents_cannot_be_annotated(filesystem_storage, clinician, administrator, patient):
    pending = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    response = _add(factories.token_client(clinician), pending)
    assert response.status_code == 409


def test_session_clients_need_the_csrf_token(document, clinician):
    from django.test import Client

    client = factories.signed_in_client(clinician, client=Client(enforce_csrf_checks=True))
    response = client.post(
        _url(document), {"kind": "marker", "geometry": {"x": 0.1, "y": 0.1}}, content_type="application/json"
    )
    assert response.status_code == 403
    assert not Annotation.objects.exists()


def test_portal_delete_button_works_without_javascript(document, clinician):
    annotation_id = _add(factories.token_client(clinician), document).json()["id"]
    client = factories.signed_in_client(clinician)
    html = client.get(reverse("documents:detail", args=[document.pk])).content.decode()
    delete_url = reverse("documents:annotation_delete", args=[document.pk, annotation_id])
    assert delete_url in html
    assert client.post(delete_url).status_code == 302
    assert not Annotation.objects.exists()


def test_a_superseded_versions_annotations_are_read_only(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(1), title="Report")
    kept = Annotation.objects.create(
        document=first, kind="marker", page=1, geometry={"x": 0.5, "y": 0.5}, author=clinician
    )
    api = factories.token_client(clinician)
    api.post(
        f"/api/documents/{first.pk}/versions/",
        {"file": SimpleUploadedFile("v2.pdf", samples.pdf(2))},
        format="multipart",
    )

    added = api.post(
        f"/api/documents/{first.pk}/annotations/",
        {"kind": "marker", "page": 1, "geometry": {"x": 0.1, "y": 0.1}},
        format="json",
    )
    removed = api.delete(f"/api/documents/{first.pk}/annotations/{kept.pk}/")

    assert (added.status_code, added.json()["detail"]["error_code"]) == (409, "version_superseded")
    assert (removed.status_code, removed.json()["detail"]["error_code"]) == (409, "version_superseded")
    assert list(Annotation.objects.filter(document=first)) == [kept]
    page = factories.signed_in_client(clinician).get(f"/documents/{first.pk}/").content.decode()
    assert "annotations are shown read-only" in page and 'data-readonly="true"' in page
