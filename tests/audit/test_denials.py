"""Every refusal is audited, and none of them is an oracle.

The walk enumerates every object route (an address naming a patient, document, annotation,
letter, user or FHIR resource) from the URL resolver, in the API, the portal and FHIR, and
calls each with each method as each role of the organisation and as another organisation's
administrator. Every 403 and 404 must leave exactly one ``access.denied`` event, in the
caller's own chain, naming the actor, the route and a reason. Another organisation's id and an
id that exists nowhere must leave the same event; only the installation's security log
(``quill.security``) tells them apart.

Each request runs in a savepoint rolled back afterwards, so every caller meets the same records.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Annotation
from apps.fhir.models import SubmissionSet
from tests import factories
from tests.documents.helpers import document_row

OBJECT_PARAMETERS = {"annotation_id", "document_id", "letter_id", "patient_id", "user_id", "resource_id"}
METHODS = ("GET", "POST", "PATCH", "DELETE")
# The object a FHIR read names by the resource type in its route's name.
FHIR_RESOURCES = {
    "documentreference": "document_id",
    "binary": "document_id",
    "patient": "patient_id",
    "list": "submission_set_id",
}


@dataclass(frozen=True)
class Route:
    name: str  # reversible name, with namespace
    parameters: tuple[str, ...]
    family: str  # api, fhir, portal


def _routes(resolver: URLResolver | None = None, namespace: str = "", prefix: str = "") -> list[Route]:
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if text.startswith("admin/"):
                continue  # Django's admin: its own permission model (audited by quill.admin_site)
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found.extend(_routes(pattern, inner, text))
        elif isinstance(pattern, URLPattern) and pattern.name:
            parameters = tuple(pattern.pattern.regex.groupindex)
            if OBJECT_PARAMETERS & set(parameters):
                family = "api" if text.startswith("api/") else "fhir" if text.startswith("fhir/") else "portal"
                found.append(Route(f"{namespace}{pattern.name}", parameters, family))
    return found


ROUTES = _routes()


def test_the_walk_finds_the_object_routes_of_every_family():
    families = {route.family for route in ROUTES}
    assert families == {"api", "fhir", "portal"}
    assert len(ROUTES) > 30


# --- the records every caller meets --------------------------------------------------------------


@dataclass
class Clinic:
    clinician: Any
    billing: Any
    administrator: Any
    outsider: Any  # another organisation's administrator
    objects: dict[str, str]


@pytest.fixture
def clinic(organisation, other_organisation, patient) -> Clinic:
    from apps.letters.services import letter_create

    clinician = factories.make_user(organisation, ["clinician"])
    administrator = factories.make_user(organisation, ["administrator"], totp=True)
    document = document_row(patient, clinician, category="lab")
    annotation = Annotation.objects.create(document=document, kind="text", page=1, geometry={}, author=administrator)
    letter = letter_create(
        actor=clinician, patient=patient, recipient_name="Dr J Smith", subject="Follow-up", body="Seen.",
        clinical_date=date(2024, 5, 1),
    )  # fmt: skip
    submission_set = SubmissionSet.objects.create(
        organisation=patient.organisation,
        patient=patient,
        unique_id="urn:oid:1.2.3.4.5",
        source_id="urn:oid:1.2.3",
        submitted_at=timezone.now(),
        received_by=clinician,
        response={"resourceType": "Bundle", "type": "transaction-response"},
    )
    return Clinic(
        clinician=clinician,
        billing=factories.make_user(organisation, ["billing"]),
        administrator=administrator,
        outsider=factories.make_user(other_organisation, ["administrator"], totp=True),
        objects={
            "patient_id": str(patient.pk),
            "document_id": str(document.pk),
            "annotation_id": str(annotation.pk),
            "letter_id": str(letter.pk),
            "user_id": str(administrator.pk),
            "submission_set_id": str(submission_set.pk),
        },
    )


def _value(route: Route, parameter: str, objects: dict[str, str]) -> str:
    if parameter == "resource_id":
        parameter = FHIR_RESOURCES[route.name.split(":")[-1].split("-")[0]]
    if parameter in objects:
        return objects[parameter]
    assert parameter in {"page", "size", "path", "version_id"}, (
        f"the walk has no object for {parameter!r} in {route.name}"
    )
    if parameter == "size":  # a size the route knows, so the refusal is about the object
        return "standard" if route.name == "documents:page_image_sized" else "photo"
    # A vread is refused for its resource before the version is looked at.
    return {"page": "1", "path": "x", "version_id": "1"}[parameter]


def _path(route: Route, objects: dict[str, str]) -> str:
    return reverse(route.name, kwargs={parameter: _value(route, parameter, objects) for parameter in route.parameters})


def _random_objects() -> dict[str, str]:
    return {
        "patient_id": str(uuid.uuid4()),
        "document_id": str(uuid.uuid4()),
        "annotation_id": str(uuid.uuid4()),
        "letter_id": str(uuid.uuid4()),
        "user_id": "987654321",
        "submission_set_id": str(uuid.uuid4()),
    }


def _client(user, family: str) -> Client:
    client = factories.signed_in_client(user) if family == "portal" else factories.token_client(user)
    client.raise_request_exception = False
    return client


def _call(client: Client, method: str, path: str, family: str) -> tuple[Any, list[AuditEvent]]:
    """The response and the access.denied events the request wrote (then rolled back)."""
    request_id = uuid.uuid4().hex
    body, content_type = (
        (b"", "application/x-www-form-urlencoded") if family == "portal" else (b"{}", "application/json")
    )
    with transaction.atomic():
        response = client.generic(method, path, body, content_type, HTTP_X_REQUEST_ID=request_id)
        denials = list(AuditEvent.objects.filter(request_id=request_id, action="access.denied"))
        transaction.set_rollback(True)
    return response, denials


def _check_refusal(user, route_path: str, method: str, response, denials: list[AuditEvent]) -> str | None:
    """What is wrong with how the refusal was audited, or None."""
    where = f"{method} {route_path} as {user.roles} of {user.organisation.name}: {response.status_code}"
    if len(denials) != 1:
        return f"{where}: {len(denials)} access.denied events"
    event = denials[0]
    problems = []
    if event.organisation_id != user.organisation_id or event.chain != str(user.organisation_id):
        problems.append("not in the caller's chain")
    if event.actor_id != user.pk or event.outcome != "denied":
        problems.append(f"actor {event.actor_id}, outcome {event.outcome}")
    if not event.details.get("reason"):
        problems.append("no reason")
    if event.details.get("route") != resolve(route_path).view_name:
        problems.append(f"route {event.details.get('route')!r}")
    return f"{where}: {', '.join(problems)}" if problems else None


# --- the walk --------------------------------------------------------------------------------------


def test_every_refusal_on_every_object_route_is_audited_once_in_the_callers_chain(clinic):
    callers = [clinic.clinician, clinic.billing, clinic.administrator, clinic.outsider]
    failures: list[str] = []
    refusals = dict.fromkeys(("api", "fhir", "portal"), 0)
    for route in ROUTES:
        path = _path(route, clinic.objects)
        for user in callers:
            client = _client(user, route.family)
            for method in METHODS:
                response, denials = _call(client, method, path, route.family)
                if response.status_code >= 500:
                    failures.append(f"{method} {path} as {user.roles}: {response.status_code}")
                if user is clinic.outsider and response.status_code not in (404, 405):
                    failures.append(f"{method} {path} as another organisation: {response.status_code}, not 404")
                if response.status_code in (403, 404):
                    refusals[route.family] += 1
                    problem = _check_refusal(user, path, method, response, denials)
                    if problem:
                        failures.append(problem)
                elif denials:
                    failures.append(
                        f"{method} {path} as {user.roles}: {response.status_code} with {len(denials)} denials"
                    )
    assert not failures, "\n".join(failures)
    assert all(refusals.values()) and sum(refusals.values()) > 100, refusals  # met in every family


def _page(response) -> bytes:
    """The body without the CSRF tokens a portal page's forms carry (new for every request)."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)


def _comparable(event: AuditEvent) -> dict[str, Any]:
    """An event without what differs between any two events (ids, time, chain links, the id asked for)."""
    return {
        "chain": event.chain,
        "organisation_id": event.organisation_id,
        "actor_id": event.actor_id,
        "patient_id": event.patient_id,
        "action": event.action,
        "object_type": event.object_type,
        "outcome": event.outcome,
        "details": event.details,
    }


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_another_organisations_id_and_an_unknown_id_leave_the_same_event(clinic, route, caplog):
    """Else an administrator could read from their own chain which ids exist in other clinics."""
    client = _client(clinic.outsider, route.family)
    for method in METHODS:
        with caplog.at_level(logging.INFO, logger="quill.security"):
            caplog.clear()
            theirs, theirs_denials = _call(client, method, _path(route, clinic.objects), route.family)
            cross_organisation_lines = [r for r in caplog.records if r.name == "quill.security"]
            caplog.clear()
            nowhere, nowhere_denials = _call(client, method, _path(route, _random_objects()), route.family)
            unknown_lines = [r for r in caplog.records if r.name == "quill.security"]
        if theirs.status_code == 405:
            continue
        assert (theirs.status_code, nowhere.status_code) == (404, 404), method
        assert _page(theirs) == _page(nowhere), method
        assert [_comparable(event) for event in theirs_denials] == [_comparable(event) for event in nowhere_denials]
        assert len(theirs_denials) == 1, method
        assert theirs_denials[0].patient_id is None
        assert not unknown_lines
        assert cross_organisation_lines, f"{method}: no security log line for another organisation's id"
        for line in cross_organisation_lines:
            assert line.security_event == "cross_organisation_access"
            assert line.owner_organisation_id == str(clinic.clinician.organisation_id)
            assert line.actor_organisation_id == str(clinic.outsider.organisation_id)
