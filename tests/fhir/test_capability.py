"""The CapabilityStatement declares exactly what works: every declared interaction and parameter is exercised.

Read from ``GET /fhir/r4/metadata`` as a client would, not from Quill's tables: each
resource's read, vread and search-type, every ``searchParam`` (with a probe from
``probes.py`` that finds the organisation's own resource, applied: in the ``self`` link,
never flagged as ignored), every ``searchInclude``, and the system ``transaction`` (ITI-65).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from tests.documents import samples
from tests.factories import token_client
from tests.fhir.mhd_bundles import Doc, as_json, nhs_subject, provide_bundle
from tests.fhir.probes import FHIR, MATCHES_NOTHING_YET, PROBES, RESULT_PROBES, World, world

__all__ = ["world"]  # the fixture, used by name

pytestmark = pytest.mark.django_db


@pytest.fixture
def statement(world) -> dict:
    return APIClient().get(f"{FHIR}/metadata").json()


@pytest.fixture
def owner(clinician):
    return token_client(clinician, keyword="Bearer")


def _resources(statement: dict) -> dict[str, dict]:
    return {entry["type"]: entry for entry in statement["rest"][0]["resource"]}


def _searched(client, resource_type: str, pairs: list[tuple[str, str]]) -> dict:
    response = client.get(f"{FHIR}/{resource_type}?{urlencode(pairs)}")
    assert response.status_code == 200, (pairs, response.content)
    body = response.json()
    Bundle.model_validate(body)
    return body


def _applied(body: dict, name: str) -> list[str]:
    """Why the search did not apply ``name``, if it did not: flagged in an outcome, or missing from self."""
    problems = []
    outcomes = [entry for entry in body.get("entry", []) if entry["search"]["mode"] == "outcome"]
    if outcomes:
        problems.append(f"flagged: {outcomes[0]['resource']['issue'][0].get('diagnostics')}")
    self_link = next(link["url"] for link in body["link"] if link["relation"] == "self")
    if name not in {key for key, _ in parse_qsl(urlsplit(self_link).query)}:
        problems.append("not in the self link")
    return problems


def test_every_declared_search_parameter_is_applied(world: World, statement, owner):
    problems = []
    for resource_type, resource in _resources(statement).items():
        for param in resource.get("searchParam", []):
            name = param["name"]
            if name in RESULT_PROBES:
                pairs = [(name, RESULT_PROBES[name])]
            elif name in PROBES.get(resource_type, {}):
                pairs = [(name, PROBES[resource_type][name](world))]
            else:
                problems.append(f"{resource_type}?{name}: declared, but no probe in probes.py")
                continue
            body = _searched(owner, resource_type, pairs)
            problems += [f"{resource_type}?{name}: {why}" for why in _applied(body, name)]
            matches = [entry["resource"]["id"] for entry in body.get("entry", []) if entry["search"]["mode"] == "match"]
            expected_nothing = (resource_type, name) in MATCHES_NOTHING_YET or RESULT_PROBES.get(name) == "count"
            if not expected_nothing and name != "_summary" and world.own_id(resource_type) not in matches:
                problems.append(f"{resource_type}?{name}: does not find the organisation's own resource")
    assert "\n".join(problems) == ""


def test_every_declared_include_adds_what_it_names(world: World, statement, owner):
    for resource_type, resource in _resources(statement).items():
        for include in resource.get("searchInclude", []):
            body = _searched(owner, resource_type, [("_id", world.own_id(resource_type)), ("_include", include)])
            assert _applied(body, "_include") == [], include
            included = [entry["resource"] for entry in body["entry"] if entry["search"]["mode"] == "include"]
            if include == "DocumentReference:subject":
                assert [(r["resourceType"], r["id"]) for r in included] == [("Patient", world.patient_id)]
            else:  # the author is contained in the DocumentReference itself, so it adds no entry
                (match,) = [entry["resource"] for entry in body["entry"] if entry["search"]["mode"] == "match"]
                assert included == [] and match["contained"][0]["resourceType"] in {"Practitioner", "PractitionerRole"}


def test_every_declared_interaction_works(world: World, statement, owner, settings, filesystem_storage, upload_tmp):
    done = []
    for resource_type, resource in _resources(statement).items():
        resource_id = world.own_id(resource_type) if resource_type != "Binary" else world.document_id
        for interaction in (item["code"] for item in resource["interaction"]):
            if interaction == "search-type":
                assert _searched(owner, resource_type, [])["total"] >= 1
            elif interaction == "read" and resource_type == "Binary":
                # The seeded row has no bytes behind it: the read reaches storage, finds nothing and says so.
                response = owner.get(f"{FHIR}/Binary/{resource_id}", HTTP_ACCEPT="application/fhir+json")
                assert response.status_code == 409 and response.json()["resourceType"] == "OperationOutcome"
            elif interaction == "read":
                read = owner.get(f"{FHIR}/{resource_type}/{resource_id}")
                assert read.status_code == 200 and read.json()["id"] == resource_id
                if resource.get("conditionalRead") == "full-support":
                    assert (
                        owner.get(f"{FHIR}/{resource_type}/{resource_id}", HTTP_IF_NONE_MATCH=read["ETag"]).status_code
                        == 304
                    )
            elif interaction == "vread":
                version = owner.get(f"{FHIR}/{resource_type}/{resource_id}").json()["meta"]["versionId"]
                assert owner.get(f"{FHIR}/{resource_type}/{resource_id}/_history/{version}").status_code == 200
            else:
                pytest.fail(f"{resource_type} declares {interaction}, which this test does not know how to exercise")
            done.append(f"{resource_type}:{interaction}")
    # the system interaction: ITI-65, a transaction Bundle POSTed to the base
    settings.QUILL_SCANNER = "none"
    assert [item["code"] for item in statement["rest"][0]["interaction"]] == ["transaction"]
    bundle = provide_bundle([Doc(samples.pdf())], subject=nhs_subject(world.nhs_number))
    response = owner.generic("POST", FHIR, as_json(bundle), content_type="application/fhir+json")
    assert response.status_code == 200 and response.json()["type"] == "transaction-response"
    assert len(done) == sum(len(resource["interaction"]) for resource in _resources(statement).values())
