"""Profile photos for patients and users: validated, resized to 512 px plus a 64 px avatar, old objects removed."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from apps.accounts.photos import user_photo_set
from apps.audit.models import AuditEvent
from apps.files import storage
from apps.files.spooling import spool
from apps.patients.models import Patient
from apps.patients.photos import patient_photo_set
from quill.errors import PermissionDenied
from tests import factories
from tests.documents import samples

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _spooled(data: bytes):
    return spool([data], max_bytes=len(data) + 1)


def _image(key: str) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(storage.open_range(key))))


def _webp(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="WEBP")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(samples.jpeg(1600, 1200, orientation=None), id="jpeg"),
        pytest.param(samples.png(1200, 900), id="png"),
        pytest.param(_webp(1024, 768), id="webp"),
    ],
)
def test_patient_photo_is_resized_with_an_avatar_under_generated_keys(any_storage, clinician, patient, data):
    patient_photo_set(actor=clinician, patient=patient, spooled=_spooled(data))
    patient.refresh_from_db()
    prefix = f"{patient.organisation_id}/{patient.pk}/photo/"
    assert patient.photo_key.startswith(prefix) and patient.photo_key.endswith(".webp")
    assert patient.avatar_key == patient.photo_key.replace(".webp", "_avatar.webp")
    photo, avatar = _image(patient.photo_key), _image(patient.avatar_key)
    assert photo.format == avatar.format == "WEBP"
    assert max(photo.size) == 512
    assert avatar.size == (64, 64)
    event = AuditEvent.objects.get(action="patient.photo_changed", patient_id=patient.pk)
    assert event.details == {"photo": "added"}


def test_replacing_a_photo_removes_the_old_objects(
    filesystem_storage, clinician, patient, django_capture_on_commit_callbacks
):
    patient_photo_set(actor=clinician, patient=patient, spooled=_spooled(samples.png(600, 600)))
    patient.refresh_from_db()
    old = [patient.photo_key, patient.avatar_key]
    with django_capture_on_commit_callbacks(execute=True):
        patient_photo_set(actor=clinician, patient=patient, spooled=_spooled(samples.jpeg(800, 600)))
    patient.refresh_from_db()
    assert patient.photo_key not in old
    assert [storage.exists(key) for key in old] == [False, False]
    assert storage.exists(patient.photo_key) and storage.exists(patient.avatar_key)
    assert AuditEvent.objects.filter(action="patient.photo_changed").latest("sequence").details == {"photo": "replaced"}


def test_a_small_photo_is_not_enlarged(filesystem_storage, clinician, patient):
    patient_photo_set(actor=clinician, patient=patient, spooled=_spooled(samples.png(200, 100)))
    patient.refresh_from_db()
    assert _image(patient.photo_key).size == (200, 100)


@pytest.mark.parametrize(
    ("data", "error_code"),
    [
        pytest.param(samples.pdf(1), "not_a_photo", id="pdf"),
        pytest.param(samples.tiff(), "not_a_photo", id="tiff"),
        pytest.param(samples.truncated_png(), "not_a_photo", id="truncated-png"),
        pytest.param(samples.pixel_bomb_png(), "image_too_large", id="pixel-bomb"),
        pytest.param(b"", "empty_file", id="empty"),
    ],
)
def test_photo_page_refuses_what_is_not_a_photo_and_keeps_nothing(
    filesystem_storage, clinician, patient, data, error_code
):
    client = factories.signed_in_client(clinician)
    response = client.post(
        reverse("documents:patient_photo", args=[patient.pk]), {"photo": SimpleUploadedFile("me.png", data)}
    )
    assert response.status_code in (400, 415)
    assert f'data-refusal="{error_code}"' in response.content.decode()
    patient.refresh_from_db()
    assert patient.photo_key == "" and patient.avatar_key == ""
    assert not os.path.exists(filesystem_storage) or not any(files for _, _, files in os.walk(filesystem_storage))


def test_photo_page_upload_view_and_remove(filesystem_storage, clinician, patient, django_capture_on_commit_callbacks):
    client = factories.signed_in_client(clinician)
    url = reverse("documents:patient_photo", args=[patient.pk])
    assert client.post(url, {"photo": SimpleUploadedFile("p.jpg", samples.jpeg())}).status_code == 302
    patient.refresh_from_db()
    avatar = client.get(reverse("documents:patient_photo_image", args=[patient.pk, "avatar"]))
    assert avatar.status_code == 200 and avatar["Content-Type"] == "image/webp"
    assert "Photo of" in client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    old = [patient.photo_key, patient.avatar_key]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"remove": "1"}).status_code == 302
    patient.refresh_from_db()
    assert patient.photo_key == "" and not any(storage.exists(key) for key in old)
    assert AuditEvent.objects.filter(action="patient.photo_removed").exists()


def test_billing_may_not_change_a_patients_photo(filesystem_storage, billing_user, patient):
    with pytest.raises(PermissionDenied):
        patient_photo_set(actor=billing_user, patient=patient, spooled=_spooled(samples.png()))
    assert Patient.objects.get(pk=patient.pk).photo_key == ""


def test_other_organisation_gets_404_for_patient_photos(filesystem_storage, clinician, other_clinician, patient):
    patient_photo_set(actor=clinician, patient=patient, spooled=_spooled(samples.png()))
    outsider = factories.signed_in_client(other_clinician)
    assert outsider.get(reverse("documents:patient_photo_image", args=[patient.pk, "photo"])).status_code == 404
    assert outsider.post(reverse("documents:patient_photo", args=[patient.pk]), {"remove": "1"}).status_code == 404


def test_user_photo_own_and_by_administrator_only(
    filesystem_storage, clinician, administrator, organisation, django_capture_on_commit_callbacks
):
    colleague = factories.make_user(organisation, ["clinician"])
    user_photo_set(actor=clinician, user=clinician, spooled=_spooled(samples.png(700, 500)))
    clinician.refresh_from_db()
    assert clinician.photo_key.startswith(f"{organisation.pk}/users/{clinician.pk}/photo/")
    assert _image(clinician.avatar_key).size == (64, 64)
    with pytest.raises(PermissionDenied):
        user_photo_set(actor=colleague, user=clinician, spooled=_spooled(samples.png()))
    old = clinician.photo_key
    with django_capture_on_commit_callbacks(execute=True):
        user_photo_set(actor=administrator, user=clinician, spooled=_spooled(samples.png()))
    clinician.refresh_from_db()
    assert clinician.photo_key != old and not storage.exists(old)
    assert AuditEvent.objects.filter(action="user.photo_changed", object_id=str(clinician.pk)).count() == 2


def test_my_photo_page(filesystem_storage, clinician):
    client = factories.signed_in_client(clinician)
    assert client.get(reverse("documents:my_photo")).status_code == 200
    response = client.post(reverse("documents:my_photo"), {"photo": SimpleUploadedFile("me.png", samples.png())})
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert client.get(reverse("documents:user_photo_image", args=[clinician.pk, "avatar"])).status_code == 200
