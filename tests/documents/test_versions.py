"""Versions: replacing a document keeps every earlier version's bytes and sha256, and downloads them."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import document_row, stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _replace(client, document, data: bytes, filename: str = "v.pdf", **fields):
    return client.post(
        reverse("documents:new_version", args=[document.pk]), {"file": SimpleUploadedFile(filename, data), **fields}
    )


def _content(client, document) -> bytes:
    response = client.get(reverse("documents-content", args=[document.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_each_version_keeps_its_own_bytes_and_sha256(any_storage, clinician, patient):
    # given a document replaced twice through the portal form
    first_bytes, second_bytes, third_bytes = samples.pdf(1), samples.pdf(2), samples.png(30, 20)
    first = stored_document(user=clinician, patient=patient, data=first_bytes, title="Referral")
    client = factories.signed_in_client(clinician)
    assert _replace(client, first, second_bytes, title="Referral (corrected)").status_code == 302
    second = Document.objects.get(lineage_id=first.lineage_id, version_number=2)
    Document.objects.filter(pk=second.pk).update(scan_status=ScanStatus.CLEAN)
    assert _replace(client, second, third_bytes, "scan.png").status_code == 302
    third = Document.objects.get(lineage_id=first.lineage_id, version_number=3)
    Document.objects.filter(pk=third.pk).update(scan_status=ScanStatus.CLEAN)
    # then there are three rows of one lineage, one current, each with its own key, hash and bytes
    versions = list(Document.objects.filter(lineage_id=first.lineage_id).order_by("version_number"))
    assert [v.version_number for v in versions] == [1, 2, 3]
    assert [v.is_current for v in versions] == [False, False, True]
    assert versions[1].supersedes_id == versions[0].pk and versions[2].supersedes_id == versions[1].pk
    assert len({v.storage_key for v in versions}) == 3
    for version, data in zip(versions, (first_bytes, second_bytes, third_bytes), strict=True):
        assert version.sha256 == hashlib.sha256(data).hexdigest()
        assert b"".join(storage.open_range(version.storage_key)) == data
        assert _content(client, version) == data  # older versions stay downloadable
    assert versions[1].title == "Referral (corrected)" and versions[2].category == first.category
    assert AuditEvent.objects.filter(action="document.version_added").count() == 2


def test_document_page_lists_every_version_with_its_hash_and_download(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(1))
    client = factories.signed_in_client(clinician)
    _replace(client, first, samples.pdf(2))
    second = Document.objects.get(lineage_id=first.lineage_id, version_number=2)
    html = client.get(reverse("documents:detail", args=[second.pk])).content.decode()
    assert first.sha256 in html and second.sha256 in html
    assert reverse("documents-content", args=[first.pk]) in html
    old_page = client.get(reverse("documents:detail", args=[first.pk])).content.decode()
    assert "You are looking at version 1" in old_page
    assert 'id="replace"' not in old_page  # only the current version can be replaced


def test_replacing_an_old_version_is_refused_and_nothing_is_stored(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(1))
    client = factories.signed_in_client(clinician)
    _replace(client, first, samples.pdf(2))
    response = _replace(client, Document.objects.get(pk=first.pk), samples.pdf(3))
    assert response.status_code == 302 and response["Location"].endswith("#replace")
    assert Document.objects.filter(lineage_id=first.lineage_id).count() == 2


def test_a_refused_new_version_keeps_the_current_one(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(1))
    client = factories.signed_in_client(clinician)
    response = _replace(client, first, samples.windows_executable(), "new.pdf")
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.is_current and Document.objects.filter(lineage_id=first.lineage_id).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "The new version was not stored" in page


def test_api_versions_list_keeps_each_sha256(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(1))
    api = factories.token_client(clinician)
    second_bytes = samples.pdf(2)
    created = api.post(
        f"/api/documents/{first.pk}/versions/", {"file": SimpleUploadedFile("v2.pdf", second_bytes)}, format="multipart"
    )
    assert created.status_code == 201
    listed = api.get(f"/api/documents/{created.json()['id']}/versions/").json()["results"]
    assert [(v["version_number"], v["sha256"]) for v in listed] == [
        (2, hashlib.sha256(second_bytes).hexdigest()),
        (1, first.sha256),
    ]


# --- what a versions list shows depends on who asks ---------------------------------------------


def _lineage(patient, user, *categories: str) -> list[Document]:
    """Bare rows of one lineage, one per category, the last current (a re-filed document)."""
    versions: list[Document] = []
    for number, category in enumerate(categories, start=1):
        version = document_row(
            patient,
            user,
            category=category,
            title=f"Version {number} {category} title",
            version_number=number,
            is_current=number == len(categories),
            supersedes=versions[-1] if versions else None,
            **({"lineage_id": versions[0].lineage_id} if versions else {}),
        )
        Document.objects.filter(pk=version.pk).update(sha256=f"{number}" * 64)
        version.refresh_from_db()
        versions.append(version)
    return versions


@pytest.fixture
def refiled(clinician, patient):
    """A clinical note re-filed as insurance: version 1 clinical, version 2 (current) insurance."""
    return _lineage(patient, clinician, "clinical-note", "insurance")


def test_billing_api_versions_list_leaves_out_versions_of_other_categories(billing_user, refiled):
    clinical, insurance = refiled
    listed = factories.token_client(billing_user).get(f"/api/documents/{insurance.pk}/versions/")
    assert listed.status_code == 200
    assert [v["id"] for v in listed.json()["results"]] == [str(insurance.pk)]
    assert clinical.title not in listed.content.decode() and clinical.sha256 not in listed.content.decode()


def test_billing_document_page_leaves_out_versions_of_other_categories(filesystem_storage, billing_user, refiled):
    clinical, insurance = refiled
    html = factories.signed_in_client(billing_user).get(reverse("documents:detail", args=[insurance.pk]))
    assert html.status_code == 200
    page = html.content.decode()
    assert insurance.sha256 in page
    assert clinical.sha256 not in page and clinical.title not in page
    assert reverse("documents:detail", args=[clinical.pk]) not in page


def test_clinician_versions_list_shows_every_category(clinician, refiled):
    listed = factories.token_client(clinician).get(f"/api/documents/{refiled[1].pk}/versions/").json()["results"]
    assert [v["version_number"] for v in listed] == [2, 1]


@pytest.mark.parametrize(
    ("role", "shown"),
    [pytest.param("clinician", [3, 1], id="clinician"), pytest.param("administrator", [3, 2, 1], id="administrator")],
)
def test_deleted_versions_are_listed_only_for_administrators(clinician, patient, organisation, role, shown):
    versions = _lineage(patient, clinician, "lab", "lab", "lab")
    Document.objects.filter(pk=versions[1].pk).update(deleted_at=timezone.now(), deleted_by=clinician)
    reader = clinician if role == "clinician" else factories.make_user(organisation, [role], totp=True)
    api_listed = factories.token_client(reader).get(f"/api/documents/{versions[2].pk}/versions/").json()["results"]
    assert [v["version_number"] for v in api_listed] == shown
    page = factories.signed_in_client(reader).get(reverse("documents:detail", args=[versions[2].pk])).content.decode()
    assert [n for n in (1, 2, 3) if f'data-version="{n}"' in page] == sorted(shown)
