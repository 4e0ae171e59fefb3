"""FHIR search result parameters and paging: _sort, _summary, _elements, _include, POST _search, cursors.

Paging is by signed keyset cursors: an upload between two pages must neither repeat nor hide
an entry, nor change ``total``; a cursor is bound to its search and to the caller's
organisation. Rows are created directly (``document_row``): no bytes are needed here.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from tests.documents.helpers import document_row
from tests.factories import make_patient, token_client

PUBLIC_BASE = "https://quill.example.test"
FHIR = "/fhir/r4"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(clinician, settings):
    settings.QUILL_PUBLIC_BASE_URL = PUBLIC_BASE
    settings.QUILL_FHIR_BASE_URL = ""
    return token_client(clinician, keyword="Bearer")


def _bundle(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    return body


def _search(api, resource="DocumentReference", **params) -> dict:
    return _bundle(api.get(f"{FHIR}/{resource}", params))


def _matches(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", []) if entry["search"]["mode"] == "match"]


def _link(bundle: dict, relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _follow(api, url: str) -> dict:
    assert url.startswith(PUBLIC_BASE + FHIR)
    return _bundle(api.get(url[len(PUBLIC_BASE) :]))


def _walk(api, first: dict) -> tuple[list[str], list[int]]:
    """Every match on every page from ``first`` on, and each page's total."""
    ids, totals, page = _matches(first), [first["total"]], first
    while _link(page, "next"):
        page = _follow(api, _link(page, "next"))
        ids += _matches(page)
        totals.append(page["total"])
    return ids, totals


def _outcome(response, status: int, error_code: str) -> dict:
    assert response.status_code == status, response.content
    issue = response.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == error_code
    return issue


@pytest.fixture
def dated(patient, clinician):
    """Seven documents: three share one upload instant (the id breaks the tie), clinical dates out of step."""
    start = timezone.now() - timedelta(days=3)
    same = start + timedelta(hours=1)
    uploads = [
        start,
        same,
        same,
        same,
        start + timedelta(hours=2),
        start + timedelta(hours=3),
        start + timedelta(hours=4),
    ]
    clinical = [
        date(2024, 5, 1),
        date(2023, 1, 1),
        date(2024, 1, 1),
        date(2023, 1, 1),
        date(2022, 6, 1),
        date(2025, 2, 1),
        date(2024, 1, 1),
    ]
    return [
        document_row(patient, clinician, uploaded_at=uploaded, document_date=day)
        for uploaded, day in zip(uploads, clinical, strict=True)
    ]


def _expected(documents: list[Document], *keys: tuple[str, bool]) -> list[str]:
    ordered = sorted(documents, key=lambda document: str(document.pk), reverse=keys[0][1])
    for column, descending in reversed(keys):
        ordered = sorted(ordered, key=lambda document: getattr(document, column), reverse=descending)
    return [str(document.pk) for document in ordered]


# --- _sort and keyset paging ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "keys"),
    [
        ("", [("uploaded_at", True)]),
        ("-date", [("uploaded_at", True)]),
        ("date", [("uploaded_at", False)]),
        ("creation", [("document_date", False)]),
        ("-creation", [("document_date", True)]),
        ("_lastUpdated", [("updated_at", False)]),
        ("-_lastUpdated", [("updated_at", True)]),
        ("creation,-date", [("document_date", False), ("uploaded_at", True)]),
    ],
    ids=["default", "-date", "date", "creation", "-creation", "lastUpdated", "-lastUpdated", "creation,-date"],
)
def test_every_sort_order_pages_through_every_document_once(api, patient, dated, sort, keys):
    params = {"patient": str(patient.pk), "_count": "2", **({"_sort": sort} if sort else {})}

    first = _search(api, **params)
    ids, totals = _walk(api, first)

    assert ids == _expected(dated, *keys)
    assert totals == [7] * 4
    if sort:
        assert parse_qs(urlsplit(_link(first, "self")).query)["_sort"] == [sort]


def test_previous_links_walk_back_to_the_first_page(api, patient, dated):
    pages = [_search(api, patient=str(patient.pk), _count="3", _sort="creation")]
    while _link(pages[-1], "next"):
        pages.append(_follow(api, _link(pages[-1], "next")))

    back = pages[-1]
    seen = [_matches(back)]
    while _link(back, "previous"):
        back = _follow(api, _link(back, "previous"))
        seen.insert(0, _matches(back))

    assert seen == [_matches(page) for page in pages]
    assert _link(pages[0], "previous") is None


@pytest.mark.parametrize("sort", ["-date", "date", "creation"])
def test_an_upload_between_pages_neither_repeats_nor_hides_an_entry(api, clinician, patient, dated, sort):
    # given the first page of a search
    first = _search(api, patient=str(patient.pk), _count="3", _sort=sort)
    # when a document for the same patient arrives, and one for the same patient with the earliest clinical date
    arrived = [document_row(patient, clinician), document_row(patient, clinician, document_date=date(2000, 1, 1))]
    ids, totals = _walk(api, first)
    # then the walk shows exactly the documents there were at the first page, once each, with one total
    assert sorted(ids) == sorted(str(document.pk) for document in dated)
    assert totals == [7, 7, 7]
    assert not {str(document.pk) for document in arrived} & set(ids)
    # and a new search sees them
    assert _search(api, patient=str(patient.pk), _count="0")["total"] == 9


def test_an_offset_is_refused_with_a_pointer_to_the_links(api, patient):
    issue = _outcome(
        api.get(f"{FHIR}/DocumentReference?patient={patient.pk}&_offset=2"), 400, "invalid_search_parameter"
    )
    assert "next" in issue["diagnostics"]


# --- Cursors -------------------------------------------------------------------------------------


def _next_cursor(bundle: dict) -> str:
    return parse_qs(urlsplit(_link(bundle, "next")).query)["_cursor"][0]


def test_a_tampered_cursor_is_a_400(api, patient, dated):
    cursor = _next_cursor(_search(api, patient=str(patient.pk), _count="2"))
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")

    for bad in (tampered, "not-a-cursor", ""):
        if bad:
            query = urlencode({"patient": str(patient.pk), "_count": "2", "_cursor": bad})
            _outcome(api.get(f"{FHIR}/DocumentReference?{query}"), 400, "invalid_cursor")


def test_a_cursor_is_bound_to_its_search(api, clinician, organisation, patient, dated):
    cursor = _next_cursor(_search(api, patient=str(patient.pk), _count="2"))
    other = make_patient(organisation)

    for params in (
        {"patient": str(other.pk), "_count": "2"},  # another patient
        {"patient": str(patient.pk), "_count": "2", "_sort": "creation"},  # another order
        {"patient": str(patient.pk), "_count": "2", "status": "current"},  # another filter
    ):
        query = urlencode({**params, "_cursor": cursor})
        _outcome(api.get(f"{FHIR}/DocumentReference?{query}"), 400, "invalid_cursor")
    assert _link(_search(api, patient=str(patient.pk), _count="5", _cursor=cursor), "self")  # _count may change
    assert _search(api, resource="Patient", _count="1")["total"] >= 1
    patient_query = urlencode({"_count": "1", "_cursor": cursor})
    _outcome(api.get(f"{FHIR}/Patient?{patient_query}"), 400, "invalid_cursor")  # another resource type


def test_a_cursor_from_another_organisation_is_refused(api, other_clinician, other_organisation, patient, dated):
    # given a cursor of a search with no criteria in the first organisation
    cursor = _next_cursor(_search(api, _count="2"))
    for _ in range(3):
        document_row(make_patient(other_organisation), other_clinician)
    # when a user of another organisation presents it with the same (empty) criteria
    response = token_client(other_clinician).get(
        f"{FHIR}/DocumentReference?{urlencode({'_count': '2', '_cursor': cursor})}"
    )
    # then it is refused, not read as a position in their documents
    _outcome(response, 400, "invalid_cursor")


def test_an_expired_cursor_is_a_400(api, patient, dated, monkeypatch):
    cursor = _next_cursor(_search(api, patient=str(patient.pk), _count="2"))
    monkeypatch.setattr("apps.fhir.paging.CURSOR_MAX_AGE", timedelta(seconds=-1))

    issue = _outcome(
        api.get(
            f"{FHIR}/DocumentReference?{urlencode({'patient': str(patient.pk), '_count': '2', '_cursor': cursor})}"
        ),
        400,
        "invalid_cursor",
    )
    assert "expired" in issue["diagnostics"]


def test_patients_page_by_cursor_in_name_order(api, organisation):
    people = [
        make_patient(organisation, family_name=name, given_name="Sam") for name in ("Cole", "Abbot", "Bell", "Abbot")
    ]
    expected = [str(p.pk) for p in sorted(people, key=lambda p: (p.family_name, p.given_name, str(p.pk)))]

    ids, totals = _walk(api, _search(api, resource="Patient", given="Sam", _count="1"))

    assert ids == expected and totals == [4] * 4
    by_birth = _walk(api, _search(api, resource="Patient", given="Sam", _count="3", _sort="-birthdate"))[0]
    assert by_birth == [str(p.pk) for p in sorted(people, key=lambda p: (p.date_of_birth, str(p.pk)), reverse=True)]


# --- _summary, _count=0, _elements ---------------------------------------------------------------


@pytest.mark.parametrize("params", [{"_summary": "count"}, {"_count": "0"}], ids=["summary-count", "count-0"])
def test_only_the_total_is_answered(api, patient, dated, params):
    bundle = _search(api, patient=str(patient.pk), **params)

    assert bundle["total"] == 7 and "entry" not in bundle
    assert {link["relation"] for link in bundle["link"]} == {"self"}


def test_summary_true_keeps_the_summary_elements_and_tags_the_subset(api, patient, dated):
    bundle = _search(api, patient=str(patient.pk), _summary="true", _count="1")
    (resource,) = [entry["resource"] for entry in bundle["entry"]]

    assert {"id", "status", "content", "subject", "type", "date"} <= set(resource)
    assert "custodian" not in resource  # not a summary element of DocumentReference
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "code": "SUBSETTED",
        "display": "subsetted",
    } in resource["meta"]["tag"]
    assert "_summary=true" in _link(bundle, "self")


def test_elements_returns_those_asked_for_and_the_mandatory_ones(api, patient, dated):
    bundle = _search(api, patient=str(patient.pk), _elements="subject,date", _count="1")
    (resource,) = [entry["resource"] for entry in bundle["entry"]]

    assert set(resource) == {"resourceType", "id", "meta", "subject", "date", "status", "content"}
    assert resource["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_summary_false_and_data_are_the_whole_resource(api, patient, dated):
    whole = _search(api, patient=str(patient.pk), _count="1")["entry"][0]["resource"]
    for summary in ("false", "data"):
        assert _search(api, patient=str(patient.pk), _count="1", _summary=summary)["entry"][0]["resource"] == whole


# --- _include ------------------------------------------------------------------------------------


def test_include_subject_adds_each_pages_patients(api, clinician, organisation, patient, dated):
    second = make_patient(organisation)
    document_row(second, clinician, uploaded_at=timezone.now())

    first = _search(api, _include="DocumentReference:subject", _count="1")
    included = [entry for entry in first["entry"] if entry["search"]["mode"] == "include"]
    assert [(entry["resource"]["resourceType"], entry["resource"]["id"]) for entry in included] == [
        ("Patient", str(second.pk))
    ]
    assert included[0]["fullUrl"] == f"{PUBLIC_BASE}{FHIR}/Patient/{second.pk}"
    assert first["total"] == 8  # includes are not counted
    following = _follow(api, _link(first, "next"))
    assert [entry["resource"]["id"] for entry in following["entry"] if entry["search"]["mode"] == "include"] == [
        str(patient.pk)
    ]
    event = AuditEvent.objects.filter(action="fhir.search").order_by("-sequence").first()
    assert event.details["included"] == [f"Patient/{patient.pk}"]


def test_include_author_adds_nothing_because_the_author_is_inside_the_document(api, patient, dated):
    bundle = _search(api, patient=str(patient.pk), _include="DocumentReference:author", _count="2")

    assert {entry["search"]["mode"] for entry in bundle["entry"]} == {"match"}
    assert parse_qs(urlsplit(_link(bundle, "self")).query)["_include"] == ["DocumentReference:author"]


def test_an_include_quill_cannot_follow_is_flagged_or_refused(api, patient, dated):
    lenient = _search(api, patient=str(patient.pk), _include="DocumentReference:custodian")
    (outcome,) = [entry["resource"] for entry in lenient["entry"] if entry["search"]["mode"] == "outcome"]
    assert "DocumentReference:custodian" in outcome["issue"][0]["diagnostics"]
    assert "_include" not in _link(lenient, "self")

    strict = api.get(f"{FHIR}/DocumentReference?_include=DocumentReference:custodian", HTTP_PREFER="handling=strict")
    _outcome(strict, 400, "invalid_search_parameter")
    _outcome(
        api.get(f"{FHIR}/DocumentReference?_include=DocumentReference:subject&_summary=text"),
        400,
        "invalid_search_parameter",
    )


# --- POST _search --------------------------------------------------------------------------------


def _post_form(api, path: str, form: dict):
    return api.post(path, urlencode(form), content_type="application/x-www-form-urlencoded")


def test_post_search_with_a_form_body_answers_like_get(api, patient, dated):
    form = {"patient": str(patient.pk), "_sort": "creation", "_count": "3"}

    posted = _bundle(_post_form(api, f"{FHIR}/DocumentReference/_search", form))

    assert _matches(posted) == _matches(_search(api, **form))
    assert urlsplit(_link(posted, "self")).path == f"{FHIR}/DocumentReference"  # links are GETs
    ids, _ = _walk(api, posted)
    assert ids == _expected(dated, ("document_date", False))


def test_post_search_of_patients_combines_query_and_body(api, organisation, patient):
    make_patient(organisation, family_name="Quenby", given_name="Ira")
    make_patient(organisation, family_name="Quenby", given_name="Jo")

    posted = _bundle(_post_form(api, f"{FHIR}/Patient/_search?family=Quenby", {"given": "Ira"}))

    assert posted["total"] == 1 and posted["entry"][0]["resource"]["name"][0]["given"] == ["Ira"]


def test_post_search_needs_a_form_body(api, patient):
    response = api.post(f"{FHIR}/DocumentReference/_search", {"patient": str(patient.pk)}, format="json")
    _outcome(response, 415, "unsupported_media_type")
    assert _post_form(api, f"{FHIR}/DocumentReference", {"patient": str(patient.pk)}).status_code == 405
