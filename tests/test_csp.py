"""Every response carries a Content-Security-Policy: every portal, API and FHIR route, and every admin page.

The routes are read from the URL configuration, not listed by hand, so a new page is covered
the day it is added. Pages (HTML) get the strict policy; a response that sets its own (a
document's bytes) keeps it; Swagger UI gets its own (quill/csp.py).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from apps.letters.services import letter_create
from quill.csp import HEADER, PORTAL_POLICY
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db

_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the URL configuration outside the admin, as a template such as
    ``documents/<uuid:document_id>/``; regex routes (the FHIR catch-all) by their literal prefix."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if getattr(entry, "app_name", None) == "admin":
                continue  # visited per registered model below
            found += _routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            found.append(prefix + (route if isinstance(entry.pattern, RoutePattern) else "not-a-route"))
    return found


@pytest.fixture
def filled(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), title="Clinic letter")
    letter = letter_create(
        actor=clinician, patient=patient, recipient_name="Dr J Smith", subject="Review", body="Seen today."
    )
    return {
        "document_id": document.pk,
        "patient_id": patient.pk,
        "letter_id": letter.pk,
        "annotation_id": uuid.uuid4(),
        "user_id": clinician.pk,
        "resource_id": patient.pk,
        "size": "small",
        "page": 1,
        "token": "not-a-link",
        "version_id": 1,
        "item_id": uuid.uuid4(),  # an inbox item nobody has: the 404 page carries the policy too
        "review_id": uuid.uuid4(),  # likewise a review
    }


def _path(route: str, values: dict) -> str:
    return "/" + _PARAMETER.sub(lambda match: str(values[match.group("name")]), route)


def test_every_route_answers_with_a_content_security_policy(filled, organisation):
    administrator = factories.make_user(organisation, ["administrator", "clinician"], totp=True)
    client = factories.signed_in_client(administrator)
    missing, pages = [], []
    for route in _routes():
        path = _path(route, filled)
        response = client.get(path)
        if HEADER not in response:
            missing.append(f"{path} ({response.status_code})")
        elif response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            pages.append(path)
            expected = response[HEADER] if path == "/api/docs/" else PORTAL_POLICY
            if response[HEADER] != expected:
                missing.append(f"{path}: {response[HEADER]}")
    assert missing == []
    # The walk reached real pages, not only refusals.
    assert {"/patients/", f"/patients/{filled['patient_id']}/", f"/documents/{filled['document_id']}/"} <= set(pages)
    assert len(pages) >= 15


def test_every_admin_page_answers_with_a_content_security_policy(filled):
    superuser = factories.make_user(None, [], is_superuser=True, is_staff=True, totp=True)
    client = factories.signed_in_client(superuser)
    paths = ["/admin/", f"/admin/accounts/user/{filled['user_id']}/password/"]
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        paths += [f"/admin/{model._meta.app_label}/", base, f"{base}add/", f"{base}?_popup=1"]
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            paths += [f"{base}{row.pk}/change/", f"{base}{row.pk}/history/", f"{base}{row.pk}/delete/"]
    answers = {path: client.get(path) for path in paths}
    assert [path for path, response in answers.items() if response.get(HEADER) != PORTAL_POLICY] == []
    assert sum(response.status_code == 200 for response in answers.values()) >= 30


def test_a_documents_own_policy_is_kept(filled, clinician):
    response = factories.token_client(clinician).get(f"/api/documents/{filled['document_id']}/content")
    assert response.status_code == 200
    assert response[HEADER] == "default-src 'none'"


def test_swagger_ui_policy_allows_its_fixed_style_and_no_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response[HEADER].split(";"))
    assert policy["script-src"].split()[0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert "'sha256-" in policy["style-src"] and "'unsafe-inline'" not in policy["style-src"]
    assert "<script>" not in response.content.decode()  # the start-up script is a file of its own
