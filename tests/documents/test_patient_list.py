"""The patient page's documents list: sorting by column, the title search, and the list alone
(the fragment upload.js fetches to refresh the list in place)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from tests import factories
from tests.documents.helpers import document_row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client(clinician):
    return factories.signed_in_client(clinician)


@pytest.fixture
def three(clinician, patient):
    document_row(patient, clinician, title="beta scan", category="imaging", document_date=date(2025, 1, 2))
    document_row(patient, clinician, title="Alpha letter", category="letter", document_date=date(2024, 5, 1))
    document_row(patient, clinician, title="gamma consent", category="consent", document_date=date(2025, 6, 1))


def _page(client, patient, **params):
    return client.get(reverse("patients:detail", args=[patient.pk]), params)


def _listed(response) -> list[str]:
    return [document.title for document in response.context["documents_region"]["page"].object_list]


def _heading(html: str, label: str) -> str:
    (heading,) = re.findall(rf'<th scope="col"[^>]*><a class="sort-link"[^>]*>{label}<.*?</th>', html)
    return heading


# --- sorting ---------------------------------------------------------------------------------------


def test_the_list_is_newest_first_by_default_and_says_so(three, client, patient):
    response = _page(client, patient)

    html = response.content.decode()
    assert _listed(response) == ["gamma consent", "beta scan", "Alpha letter"]
    assert 'aria-sort="descending"' in _heading(html, "Clinical date")
    assert "aria-sort" not in _heading(html, "Title") and "aria-sort" not in _heading(html, "Category")
    assert "sorted by Clinical date, newest first</caption>" in html


@pytest.mark.parametrize(
    ("sort", "label", "aria_sort", "next_sort", "expected"),
    [
        ("title", "Title", "ascending", "-title", ["Alpha letter", "beta scan", "gamma consent"]),
        ("-title", "Title", "descending", "title", ["gamma consent", "beta scan", "Alpha letter"]),
        ("category", "Category", "ascending", "-category", ["gamma consent", "beta scan", "Alpha letter"]),
        ("-category", "Category", "descending", "category", ["Alpha letter", "beta scan", "gamma consent"]),
        ("date", "Clinical date", "ascending", "-date", ["Alpha letter", "beta scan", "gamma consent"]),
        ("-date", "Clinical date", "descending", "date", ["gamma consent", "beta scan", "Alpha letter"]),
    ],
    ids=["title-a-z", "title-z-a", "category-a-z", "category-z-a", "date-oldest", "date-newest"],
)
def test_a_column_heading_shows_its_order_and_links_to_the_other(
    three, client, patient, sort, label, aria_sort, next_sort, expected
):
    response = _page(client, patient, sort=sort)

    html = response.content.decode()
    assert response.status_code == 200
    assert _listed(response) == expected
    heading = _heading(html, label)
    assert f'aria-sort="{aria_sort}"' in heading
    assert f'href="?sort={next_sort}#documents"' in heading
    assert html.count("aria-sort=") == 1


def test_other_columns_link_to_their_first_order(three, client, patient):
    html = _page(client, patient, sort="-title").content.decode()

    assert 'href="?sort=category#documents"' in _heading(html, "Category")
    assert 'href="?sort=-date#documents"' in _heading(html, "Clinical date")


def test_the_order_is_kept_by_filters_pages_and_clear_links(clinician, client, patient):
    for number in range(22):
        document_row(patient, clinician, title=f"Lab {number:02}", category="lab")
    document_row(patient, clinician, title="Consent", category="consent")

    html = _page(client, patient, sort="-title", category="lab", page="1").content.decode()

    # the next page keeps the order and the filter
    assert 'href="?sort=-title&amp;category=lab&amp;page=2"' in html
    # a heading keeps the filter and starts again at the first page
    assert 'href="?category=lab&amp;sort=title#documents"' in _heading(html, "Title")
    # the filter form submits the order with the filters, and Clear keeps the order
    assert '<option value="-title" selected>Title, Z to A</option>' in html
    assert f'href="{reverse("patients:detail", args=[patient.pk])}?sort=-title#documents">Clear</a>' in html


def test_pages_follow_the_order_with_no_document_twice_or_missing(clinician, client, patient):
    for number in range(25):
        document_row(
            patient, clinician, title="Same title", category="lab", document_date=date(2025, 1, number % 3 + 1)
        )

    first = _listed_ids(_page(client, patient, sort="title"))
    second = _listed_ids(_page(client, patient, sort="title", page="2"))

    assert len(first) == 20 and len(second) == 5
    assert set(first) | set(second) == set(Document.objects.values_list("pk", flat=True))


def _listed_ids(response) -> list:
    return [document.pk for document in response.context["documents_region"]["page"].object_list]


@pytest.mark.parametrize("sort", ["size", "--date", "title;drop", "DATE"], ids=str)
def test_an_order_that_cannot_be_read_is_an_error_beside_the_field_and_lists_nothing(three, client, patient, sort):
    response = _page(client, patient, sort=sort, category="imaging")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Quill cannot sort by that: choose one of the orders in the list." in html
    assert "Nothing was listed: correct the filters above" in html
    assert _listed(response) == []
    # the headings offer each column's first order again, keeping the filters
    assert "aria-sort" not in html


def test_an_empty_order_is_the_default_order(three, client, patient):
    response = _page(client, patient, sort="")

    assert "field-error" not in response.content.decode()
    assert _listed(response) == ["gamma consent", "beta scan", "Alpha letter"]


# --- the title search ------------------------------------------------------------------------------


def test_the_title_search_ignores_case_and_combines_with_the_filters(clinician, client, patient):
    document_row(patient, clinician, title="Discharge SUMMARY", category="letter")
    document_row(patient, clinician, title="Clinic summary", category="lab")
    document_row(patient, clinician, title="Blood results", category="lab")

    assert sorted(_listed(_page(client, patient, title="  summary "))) == ["Clinic summary", "Discharge SUMMARY"]
    assert _listed(_page(client, patient, title="summary", category="lab")) == ["Clinic summary"]
    nothing = _page(client, patient, title="x-ray").content.decode()
    assert "No documents match these filters" in nothing


def test_a_title_search_that_cannot_be_read_shows_the_error_and_no_results(three, client, patient):
    response = _page(client, patient, title="s" * 201)

    html = response.content.decode()
    assert response.status_code == 200
    assert "at most 200 characters" in html
    assert "Nothing was listed: correct the filters above" in html
    assert _listed(response) == []


def test_a_title_search_with_a_nul_character_is_refused_before_anything_is_listed(three, client, patient):
    response = _page(client, patient, title="sum\x00mary")  # the input guard answers for every route

    assert response.status_code == 400
    assert "title" in response.content.decode()  # the refusal names the parameter
    assert not AuditEvent.objects.filter(action="document.listed", patient_id=patient.pk).exists()


def test_the_search_and_the_order_are_recorded_with_the_listing(three, client, patient):
    _page(client, patient, title="scan", sort="-title")

    event = AuditEvent.objects.filter(action="document.listed", patient_id=patient.pk).latest("sequence")
    assert event.details["filters"] == {"title": "scan", "sort": "-title"}
    assert event.details["channel"] == "portal"


# --- the list alone, for refreshing in place ---------------------------------------------------------


def _list(client, patient, etag: str | None = None, **params):
    headers = {"If-None-Match": etag} if etag else {}
    return client.get(reverse("documents:patient_list", args=[patient.pk]), params, headers=headers)


def _listings(patient) -> int:
    return AuditEvent.objects.filter(action="document.listed", patient_id=patient.pk).count()


def test_the_list_alone_keeps_the_filters_and_order_and_is_recorded(three, client, patient):
    response = _list(client, patient, sort="title", category="imaging")

    html = response.content.decode()
    assert response.status_code == 200
    assert "beta scan" in html and "Alpha letter" not in html
    assert "<form" not in html and "<html" not in html  # only the list
    assert response["ETag"]
    event = AuditEvent.objects.filter(action="document.listed", patient_id=patient.pk).latest("sequence")
    assert event.details["channel"] == "portal-refresh"
    assert event.details["filters"] == {"category": "imaging", "sort": "title"}


def test_the_page_gives_the_script_the_list_url_and_its_etag(three, client, patient):
    html = _page(client, patient, sort="title", page="1").content.decode()

    list_url = reverse("documents:patient_list", args=[patient.pk]) + "?sort=title&amp;page=1"
    assert f'data-list-url="{list_url}"' in html
    (etag,) = re.findall(r'data-etag="([^"]+)"', html)
    # the first poll finds the list as the page showed it
    assert _list(client, patient, etag.replace("&quot;", '"'), sort="title", page="1").status_code == 304


def test_an_unchanged_list_is_304_and_not_recorded_again_until_it_changes(three, clinician, client, patient):
    first = _list(client, patient)
    before = _listings(patient)

    unchanged = _list(client, patient, first["ETag"])

    assert unchanged.status_code == 304
    assert unchanged["ETag"] == first["ETag"]
    assert unchanged.content == b""
    assert _listings(patient) == before

    # a scan settles: the list differs, so it is sent and recorded again
    document = Document.objects.get(title="beta scan")
    Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.PENDING)
    changed = _list(client, patient, first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert 'data-scan-status="pending"' in changed.content.decode()
    assert _listings(patient) == before + 1


def test_the_list_alone_follows_the_access_rules(clinician, billing_user, other_clinician, organisation, patient):
    document_row(patient, clinician, title="Clinic letter", category="letter")
    document_row(patient, clinician, title="Claim form", category="insurance")

    billing = _list(factories.signed_in_client(billing_user), patient).content.decode()
    assert "Claim form" in billing and "Clinic letter" not in billing
    assert _list(factories.signed_in_client(other_clinician), patient).status_code == 404
    roleless = factories.make_user(organisation, roles=())
    assert _list(factories.signed_in_client(roleless), patient).status_code == 403
    assert _list(Client(), patient).status_code == 302  # to the sign-in page
