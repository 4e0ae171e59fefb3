"""The thumbnail task after a clean scan: JPEG, PNG and PDF, and failures that never block the document."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from apps.documents.models import Document
from apps.documents.tasks import make_document_thumbnail
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _read(key: str) -> bytes:
    return b"".join(storage.open_range(key))


@pytest.mark.parametrize(
    ("data", "filename", "expected_size"),
    [
        pytest.param(samples.jpeg(640, 480, orientation=None), "photo.jpg", (320, 240), id="jpeg"),
        pytest.param(samples.png(400, 300), "scan.png", (320, 240), id="png"),
        pytest.param(samples.pdf(2), "letter.pdf", (226, 320), id="pdf"),
    ],
)
def test_thumbnail_is_a_small_webp_beside_the_original(any_storage, clinician, patient, data, filename, expected_size):
    document = stored_document(user=clinician, patient=patient, data=data, filename=filename)
    assert make_document_thumbnail(str(document.pk)) == "made"
    document.refresh_from_db()
    stem = document.storage_key.rsplit(".", 1)[0]
    assert document.thumbnail_key == f"{stem}_thumb.webp"
    image = Image.open(io.BytesIO(_read(document.thumbnail_key)))
    assert image.format == "WEBP"
    assert abs(image.width - expected_size[0]) <= 1 and abs(image.height - expected_size[1]) <= 1
    # idempotent: a second run changes nothing
    assert make_document_thumbnail(str(document.pk)) == "skipped"


def test_a_failed_thumbnail_leaves_a_placeholder_and_the_document_available(filesystem_storage, clinician, patient):
    # given a clean PNG whose stored bytes can be read but not decoded
    document = stored_document(user=clinician, patient=patient, data=samples.png(), filename="x.png")
    storage.put_bytes(key=document.storage_key, data=b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")
    # when the task runs, it reports the failure without raising
    assert make_document_thumbnail(str(document.pk)) == "failed"
    document.refresh_from_db()
    assert document.thumbnail_key == "" and document.is_available
    # then the list shows a placeholder and the document page still opens
    client = factories.signed_in_client(clinician)
    html = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert "thumb-placeholder" in html
    assert reverse("documents:thumbnail", args=[document.pk]) not in html
    assert client.get(reverse("documents:detail", args=[document.pk])).status_code == 200


def test_no_thumbnail_for_documents_not_yet_clean(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert make_document_thumbnail(str(document.pk)) == "skipped"
    assert Document.objects.get(pk=document.pk).thumbnail_key == ""


def test_dicom_gets_no_thumbnail_and_is_not_blocked(filesystem_storage, clinician, patient):
    document = stored_document(
        user=clinician, patient=patient, data=samples.dicom(), filename="ct.dcm", category="imaging"
    )
    assert make_document_thumbnail(str(document.pk)) == "unsupported"
    assert Document.objects.get(pk=document.pk).is_available
