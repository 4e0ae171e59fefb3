"""The viewer's page images: rendered once and stored beside the document, revalidated by ETag,
and still authorised and audited on every request."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.urls import reverse
from PIL import Image

from apps.audit.models import AuditEvent
from apps.documents.services import pages
from apps.files import rendering, storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def renders(monkeypatch):
    """Every call of the page renderer, passed through to the real one."""
    calls: list[tuple[int, int]] = []
    real = rendering.render_page_image

    def spy(path, content_type, page, *, width):
        calls.append((page, width))
        return real(path, content_type, page, width=width)

    monkeypatch.setattr(pages, "render_page_image", spy)
    return calls


@pytest.fixture
def pdf_document(filesystem_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=samples.pdf(3), category="lab")


def _page_url(document, page: int = 1, size: str | None = None) -> str:
    if size is None:
        return reverse("documents:page_image", args=[document.pk, page])
    return reverse("documents:page_image_sized", args=[document.pk, page, size])


def _previews(document) -> list[dict]:
    events = AuditEvent.objects.filter(action="document.previewed", object_id=str(document.pk)).order_by("sequence")
    return [event.details for event in events]


def _width(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        return image.width


def test_second_view_reads_the_stored_page_and_does_not_render(pdf_document, clinician, renders):
    client = factories.signed_in_client(clinician)

    first = client.get(_page_url(pdf_document, 2))
    second = client.get(_page_url(pdf_document, 2))

    assert first.status_code == second.status_code == 200
    assert renders == [(2, 1000)]
    assert second.content == first.content and second.content[8:12] == b"WEBP"
    key = storage.rendition_key(pdf_document.storage_key, f"r{pages.RENDER_VERSION}-w1000-p2")
    assert storage.read_bytes(key) == first.content
    assert [d["served"] for d in _previews(pdf_document)] == ["rendered", "stored"]
    assert second["X-Page-Count"] == "3"
    assert second["X-Page-Size"] == "595.28 841.89"  # A4 in points


def test_the_page_count_survives_a_lost_cache(pdf_document, clinician, renders):
    client = factories.signed_in_client(clinician)
    client.get(_page_url(pdf_document, 3))
    cache.clear()

    again = client.get(_page_url(pdf_document, 3))

    assert again.status_code == 200 and again["X-Page-Count"] == "3"
    assert renders == [(3, 1000)]  # read from the original's page table, not rendered again


@pytest.mark.parametrize(
    ("size", "width"),
    [("thumb", 240), ("standard", 1000), ("large", 2000), ("xlarge", 3200)],
    ids=["thumb", "standard", "large", "xlarge"],
)
def test_each_size_is_rendered_at_its_width_and_stored_apart(pdf_document, clinician, renders, size, width):
    response = factories.signed_in_client(clinician).get(_page_url(pdf_document, 1, size))

    assert response.status_code == 200
    assert _width(response.content) == width
    assert storage.exists(storage.rendition_key(pdf_document.storage_key, f"r{pages.RENDER_VERSION}-w{width}-p1"))
    assert _previews(pdf_document) == [{"page": 1, "size": size, "served": "rendered"}]


def test_an_unknown_size_or_page_is_404_and_never_cached(pdf_document, clinician):
    client = factories.signed_in_client(clinician)
    for url in (_page_url(pdf_document, 1, "poster"), _page_url(pdf_document, 4)):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "no-store" in response["Cache-Control"]
    assert _previews(pdf_document) == []


def test_matching_etag_is_304_after_the_checks_and_is_audited(pdf_document, clinician, renders, monkeypatch):
    client = factories.signed_in_client(clinician)
    first = client.get(_page_url(pdf_document, 1, "large"))
    assert first["ETag"] == f'"{pdf_document.sha256}-r{pages.RENDER_VERSION}-w2000-p1"'
    assert first["Cache-Control"] == "private, no-cache"

    def no_storage(key):
        raise AssertionError("a 304 must not read the stored page")

    monkeypatch.setattr(storage, "read_bytes", no_storage)
    again = client.get(_page_url(pdf_document, 1, "large"), HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "private, no-cache"
    assert renders == [(1, 2000)]
    assert _previews(pdf_document)[-1] == {"page": 1, "size": "large", "served": "not_modified"}


def test_another_pages_etag_is_not_a_match(pdf_document, clinician):
    client = factories.signed_in_client(clinician)
    page_one = client.get(_page_url(pdf_document, 1))["ETag"]

    page_two = client.get(_page_url(pdf_document, 2), HTTP_IF_NONE_MATCH=page_one)

    assert page_two.status_code == 200 and page_two["ETag"] != page_one


@pytest.mark.parametrize("size", [None, "thumb", "xlarge"], ids=["standard", "thumb", "xlarge"])
def test_a_stored_page_is_not_served_across_organisations(pdf_document, clinician, other_clinician, size):
    etag = factories.signed_in_client(clinician).get(_page_url(pdf_document, 1, size))["ETag"]
    outsider = factories.signed_in_client(other_clinician)

    plain = outsider.get(_page_url(pdf_document, 1, size))
    revalidated = outsider.get(_page_url(pdf_document, 1, size), HTTP_IF_NONE_MATCH=etag)

    assert plain.status_code == revalidated.status_code == 404
    assert "no-store" in revalidated["Cache-Control"]
    denials = AuditEvent.objects.filter(action="access.denied", object_id=str(pdf_document.pk))
    # not_found, as for an id that exists nowhere: the outsider's chain must not tell the two apart
    assert denials.count() == 2 and {event.details["reason"] for event in denials} == {"not_found"}
    assert {event.chain for event in denials} == {str(other_clinician.organisation_id)}
    assert len(_previews(pdf_document)) == 1  # only the clinician's


@pytest.mark.parametrize("size", [None, "thumb", "large"], ids=["standard", "thumb", "large"])
def test_a_stored_page_is_not_served_outside_the_role(pdf_document, clinician, billing_user, size):
    etag = factories.signed_in_client(clinician).get(_page_url(pdf_document, 1, size))["ETag"]

    refused = factories.signed_in_client(billing_user).get(_page_url(pdf_document, 1, size), HTTP_IF_NONE_MATCH=etag)

    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action="access.denied", object_id=str(pdf_document.pk)).exists()


def test_a_deleted_document_has_no_pages_even_when_stored(pdf_document, clinician, administrator):
    from apps.documents.services import document_soft_delete

    client = factories.signed_in_client(clinician)
    etag = client.get(_page_url(pdf_document, 1))["ETag"]
    document_soft_delete(actor=administrator, document=pdf_document, reason="Filed to the wrong patient")

    assert client.get(_page_url(pdf_document, 1), HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_signed_out_requests_are_sent_to_sign_in_and_never_cached(pdf_document):
    from django.test import Client

    response = Client().get(_page_url(pdf_document, 1))

    assert response.status_code == 302 and "no-store" in response["Cache-Control"]


def test_a_tiff_scan_is_one_page_never_enlarged(filesystem_storage, clinician, patient, renders):
    document = stored_document(
        user=clinician, patient=patient, data=samples.tiff(800, 600), filename="scan.tif", category="other"
    )
    client = factories.signed_in_client(clinician)

    response = client.get(_page_url(document, 1, "large"))

    assert response.status_code == 200 and response["X-Page-Count"] == "1"
    assert _width(response.content) == 800 and response["X-Page-Size"] == "800.00 600.00"
    assert client.get(_page_url(document, 2)).status_code == 404


def test_removing_renditions_removes_every_stored_page(pdf_document, clinician):
    client = factories.signed_in_client(clinician)
    for size in ("thumb", "standard"):
        client.get(_page_url(pdf_document, 1, size))

    assert pages.document_remove_renditions(document=pdf_document) == 2
    assert list(storage.list_keys(storage.renditions_prefix(pdf_document.storage_key))) == []
    assert pages.document_remove_renditions(document=pdf_document) == 0
    assert storage.exists(pdf_document.storage_key)
