"""Rendered portal pages have unique ids, and every aria-describedby and label points at an element that exists.

axe-core flags both (duplicate-id, aria-valid-attr-value); the patient page had the upload and
filter forms both rendering id_category and id_encounter_id, and help texts referenced ids that
did not exist.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from html.parser import HTMLParser

import pytest

from apps.letters.services import letter_create
from apps.reviews.services import assign_review
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.references: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(values["id"] or "")
        for name in ("aria-describedby", "aria-labelledby"):
            for target in (values.get(name) or "").split():
                self.references.append((name, target))
        if tag == "label" and values.get("for"):
            self.references.append(("for", values["for"] or ""))


def _problems(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    duplicates = [f"duplicate id {name!r}" for name, count in Counter(parser.ids).items() if count > 1]
    dangling = [f"{attr} -> missing {target!r}" for attr, target in parser.references if target not in parser.ids]
    return duplicates + dangling


@pytest.fixture
def pages(clinician, patient):
    letter = letter_create(actor=clinician, patient=patient, subject="Clinic letter")
    document = document_row(patient, clinician)
    assign_review(document, assignee=clinician, priority="urgent", due_date=date(2030, 1, 1), assigned_by=clinician)
    return [
        f"/documents/{document.pk}/",
        "/reviews/",
        "/patients/",
        "/patients/new/",
        f"/patients/{patient.pk}/",
        f"/patients/{patient.pk}/edit/",
        f"/patients/{patient.pk}/?category=lab&date_from=2030-01-01&date_to=2020-01-01",
        f"/letters/patient/{patient.pk}/new/",
        f"/letters/{letter.pk}/edit/",
        f"/letters/patient/{patient.pk}/",
        "/documents/search/",
        f"/documents/search/?q=warfarin&patient={patient.pk}&date_from=2030-01-01",
        "/documents/search/?q=warfarin&category=pets",
    ]


def test_the_checker_finds_what_it_looks_for():
    html = '<label for="a">A</label><input id="a"><input id="a" aria-describedby="a_help">'

    assert _problems(html) == ["duplicate id 'a'", "aria-describedby -> missing 'a_help'"]


def test_portal_pages_have_unique_ids_and_no_dangling_references(clinician, pages):
    client = factories.signed_in_client(clinician)
    found = {}
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 400), path
        problems = _problems(response.content.decode())
        if problems:
            found[path] = problems

    assert found == {}
