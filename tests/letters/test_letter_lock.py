"""A final letter's PDF is sealed: the document routes refuse to change it; amending the letter is the way.

Each refusal answers 409 `letter_document_locked`, stores nothing, and is audited as a denial.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.documents.models import Annotation, Document, ScanStatus
from apps.letters.services import letter_amend, letter_finalise, letter_update
from tests import factories
from tests.documents import samples

from .helpers import denials, stored_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def final_letter(patient, write_final):
    return write_final(patient, subject="Knee clinic")


@pytest.fixture
def admin_api(administrator):
    return factories.token_client(administrator)


def _assert_locked(response, document: Document, attempted: str) -> None:
    assert response.status_code == 409, response.content
    assert response.json()["detail"]["error_code"] == "letter_document_locked"
    assert "Amend letter" in response.json()["detail"]["message"]
    (denial,) = denials(object_id=str(document.pk))
    assert denial.details.pop("route")  # every denial names its route (apps/audit/middleware.py)
    assert denial.details == {"reason": "letter_document_locked", "attempted": attempted}


def test_a_finalised_letters_pdf_is_sealed(clinician, final_letter):
    document = final_letter.document

    assert document.sealed
    assert Document.objects.filter(sealed=True).count() == 1
    assert factories.token_client(clinician).get(f"/api/documents/{document.pk}/").json()["sealed"] is True


def test_the_api_refuses_a_new_version_and_stores_nothing(clinician, final_letter, document_files):
    document = final_letter.document
    files_before = stored_files(document_files)

    response = factories.token_client(clinician).post(
        f"/api/documents/{document.pk}/versions/",
        {"file": SimpleUploadedFile("replacement.pdf", samples.pdf(1))},
        format="multipart",
    )

    _assert_locked(response, document, "document.new_version")
    assert Document.objects.count() == 1
    assert stored_files(document_files) == files_before


@pytest.mark.parametrize(
    ("change", "attempted"),
    [
        ({"title": "Something else"}, "document.update"),
        ({"category": "other"}, "document.update"),
        ({"document_date": "2020-01-01"}, "document.update"),
    ],
    ids=["title", "category", "date"],
)
def test_the_api_refuses_metadata_changes(clinician, final_letter, change, attempted):
    document = final_letter.document

    response = factories.token_client(clinician).patch(f"/api/documents/{document.pk}/", change, format="json")

    _assert_locked(response, document, attempted)
    document.refresh_from_db()
    assert (document.title, document.category, document.document_date) == ("Knee clinic", "letter", date(2024, 5, 1))


def test_the_api_refuses_deletion_even_by_an_administrator(admin_api, final_letter):
    document = final_letter.document

    response = admin_api.delete(f"/api/documents/{document.pk}/?reason=Filed+twice+by+mistake")

    _assert_locked(response, document, "document.delete")
    document.refresh_from_db()
    assert document.deleted_at is None


def test_the_api_refuses_annotations(clinician, final_letter):
    document = final_letter.document

    response = factories.token_client(clinician).post(
        f"/api/documents/{document.pk}/annotations/",
        {"kind": "marker", "page": 1, "geometry": {"x": 0.5, "y": 0.5}},
        format="json",
    )

    _assert_locked(response, document, "annotation.create")
    assert not Annotation.objects.exists()


def test_an_annotation_made_before_the_seal_cannot_be_deleted(clinician, final_letter):
    document = final_letter.document
    annotation = Annotation.objects.create(
        document=document, kind="marker", page=1, geometry={"x": 0.5, "y": 0.5}, author=clinician
    )

    response = factories.token_client(clinician).delete(f"/api/documents/{document.pk}/annotations/{annotation.pk}/")

    _assert_locked(response, document, "annotation.delete")
    assert Annotation.objects.filter(pk=annotation.pk).exists()


def test_the_portal_offers_amendment_not_replacement(clinician, final_letter):
    portal = factories.signed_in_client(clinician)
    document = final_letter.document
    Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.CLEAN)

    page = portal.get(f"/documents/{document.pk}/").content.decode()

    assert "Replace with a new version" not in page
    assert "data-letter-lock" in page and "Amend letter" in page
    assert f'href="/letters/{final_letter.pk}/"' in page
    assert 'data-readonly="true"' in page and 'name="annotation-tool"' not in page


def test_the_portal_refuses_a_new_version_posted_anyway(clinician, final_letter, document_files):
    portal = factories.signed_in_client(clinician)
    document = final_letter.document

    response = portal.post(
        f"/documents/{document.pk}/new-version/",
        {"file": SimpleUploadedFile("replacement.pdf", samples.pdf(1))},
        follow=True,
    )

    assert "Amend letter" in response.content.decode()
    assert Document.objects.count() == 1
    assert len(denials(object_id=str(document.pk))) == 1


def test_the_portal_refuses_deletion(administrator, final_letter):
    portal = factories.signed_in_client(administrator)
    document = final_letter.document

    response = portal.post(f"/documents/{document.pk}/delete/", {"reason": "Filed twice by mistake"}, follow=True)

    assert "Amend letter" in response.content.decode()
    document.refresh_from_db()
    assert document.deleted_at is None


def test_amending_is_the_one_way_to_a_new_version(clinician, final_letter):
    original = final_letter.document

    draft = letter_amend(actor=clinician, letter=final_letter)
    letter_update(actor=clinician, letter=draft, body="Seen in clinic today. Corrected dose.")
    amended = letter_finalise(actor=clinician, letter=draft)

    new = amended.document
    original.refresh_from_db()
    assert (new.lineage_id, new.version_number, new.supersedes_id) == (original.lineage_id, 2, original.pk)
    assert new.sealed and original.sealed
    assert not original.is_current and original.deleted_at is None
    assert not denials()
