"""Tenancy sweep of ``/fhir/r4/``: another organisation's token learns nothing, through any door.

The searches are driven by the search tables themselves (``apps.fhir.search.SEARCHES``):
every parameter, and every modifier it takes, needs a probe in ``probes.py``, built from one
organisation's data. A parameter added to a table without a probe fails here, so a new
parameter is swept as soon as it exists. Each probe is first shown to find the
organisation's own resource with the owner's token (so it could leak), then sent by another
organisation's token as GET (with ``_include``), as ``_summary=count`` and as POST
``_search``: nothing of the owner may come back, the total included.

Reads, vreads, history, Binary and conditional reads of the owner's ids answer exactly as
for ids that do not exist, and each refusal is audited. ITI-65 bundles that name the owner's
patient or Binary, in every way a bundle can, are refused exactly as for a patient Quill does
not know, and audited; with the caller's inbox on for such bundles, each goes to the caller's
own inbox with an answer the same as for a patient Quill does not know.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.fhir import codes
from apps.fhir.models import MhdSettings, SubmissionSet
from apps.fhir.search import SEARCHES
from apps.inbox.models import InboxItem
from tests.documents import samples
from tests.factories import VALID_NHS_NUMBERS, token_client
from tests.fhir.mhd_bundles import Doc, as_json, nhs_subject, provide_bundle
from tests.fhir.probes import FHIR, MATCHES_NOTHING_YET, PROBES, PUBLIC_BASE, World, param_names, world

__all__ = ["world"]  # the fixture, used by name


pytestmark = pytest.mark.django_db


TABLE_PARAMS = [(resource_type, name) for resource_type, search in SEARCHES.items() for name in param_names(search)]


@pytest.mark.parametrize(("resource_type", "name"), TABLE_PARAMS, ids=[f"{r}?{n}" for r, n in TABLE_PARAMS])
def test_every_search_parameter_and_modifier_has_a_tenancy_probe(resource_type, name):
    assert name in PROBES.get(resource_type, {}), (
        f"{resource_type}?{name} is in the search table but has no probe in PROBES: add one that finds "
        "the World's own resource, so the tenancy sweep covers it."
    )


def test_the_probes_name_only_parameters_the_tables_have():
    stale = {(resource_type, name) for resource_type, probes in PROBES.items() for name in probes}
    assert stale - set(TABLE_PARAMS) == set()
    assert set(MATCHES_NOTHING_YET) <= set(TABLE_PARAMS)


@pytest.fixture
def owner(clinician):
    return token_client(clinician, keyword="Bearer")


@pytest.fixture
def intruder(other_clinician):
    return token_client(other_clinician, keyword="Bearer")


def _search(client, resource_type: str, pairs: list[tuple[str, str]], *, post: bool = False) -> dict:
    if post:
        response = client.post(
            f"{FHIR}/{resource_type}/_search", urlencode(pairs), content_type="application/x-www-form-urlencoded"
        )
    else:
        response = client.get(f"{FHIR}/{resource_type}?{urlencode(pairs)}")
    assert response.status_code == 200, response.content
    return response.json()


def _leaks(body: dict, world: World) -> list[str]:
    """What of the World a Bundle's entries show (the self link only echoes what the caller sent)."""
    text = json.dumps(body.get("entry", []))
    return [f"{what} ({value})" for what, value in world.markers().items() if value in text]


# --- Searches -------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", sorted(SEARCHES))
def test_no_search_parameter_finds_another_organisations_resources(
    world, owner, intruder, other_clinician, resource_type
):
    problems: list[str] = []
    probes = PROBES[resource_type]
    for name in param_names(SEARCHES[resource_type]):
        if name not in probes:
            problems.append(f"{name}: no probe")
            continue
        pairs = [(name, probes[name](world))]
        label = f"{resource_type}?{urlencode(pairs)}"
        # given the probe finds the owner's own resource (or, for a parameter that matches nothing yet, nothing)
        own = _search(owner, resource_type, pairs)
        found = [entry["resource"]["id"] for entry in own.get("entry", []) if entry["search"]["mode"] == "match"]
        if (resource_type, name) in MATCHES_NOTHING_YET:
            if own["total"] != 0:
                problems.append(f"{label}: now matches for the owner; take it off MATCHES_NOTHING_YET")
        elif world.own_id(resource_type) not in found:
            problems.append(f"{label}: the probe does not find the owner's resource, so it proves nothing")
        # then the other organisation gets nothing: entries, included resources, counts and totals
        include = [("_include", "DocumentReference:subject")] if resource_type == "DocumentReference" else []
        for how, body in (
            ("GET", _search(intruder, resource_type, pairs + include)),
            ("_summary=count", _search(intruder, resource_type, [*pairs, ("_summary", "count")])),
            ("POST _search", _search(intruder, resource_type, pairs, post=True)),
        ):
            if body["total"] != 0 or body.get("entry"):
                problems.append(f"{label} ({how}): total {body['total']}, {len(body.get('entry', []))} entries")
            problems += [f"{label} ({how}) shows their {leak}" for leak in _leaks(body, world)]
    assert problems == []
    # and what they were given is what the audit says they got: nothing
    searches = AuditEvent.objects.filter(action=Action.FHIR_SEARCH, actor_id=other_clinician.pk)
    assert searches.count() == 3 * len(param_names(SEARCHES[resource_type]))
    assert {(event.details["total"], tuple(event.details["returned"])) for event in searches} == {(0, ())}


@pytest.mark.parametrize("resource_type", sorted(SEARCHES))
def test_no_sort_order_or_unfiltered_count_shows_another_organisation_anything(world, owner, intruder, resource_type):
    search = SEARCHES[resource_type]
    # the owner's unfiltered count sees their resource, so the intruder's could
    assert _search(owner, resource_type, [("_summary", "count")])["total"] >= 1
    problems = []
    for pairs in (
        [("_summary", "count")],
        [("_count", "0")],
        [("_summary", "true")],
        *([("_sort", f"{prefix}{key}")] for key in sorted(search.sorts) for prefix in ("", "-")),
        *([("_include", include)] for include in search.includes),
    ):
        body = _search(intruder, resource_type, pairs)
        if body["total"] != 0 or body.get("entry"):
            problems.append(f"{resource_type}?{urlencode(pairs)}: total {body['total']}")
    assert problems == []


# --- Reads ----------------------------------------------------------------------------------------


def _reads(world: World, versions: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """(what, path, headers) for every way to read one of the World's resources by id."""
    doc, patient, listed = world.document_id, world.patient_id, world.list_id
    reads = []
    for resource_type, resource_id in (("DocumentReference", doc), ("Patient", patient), ("List", listed)):
        path = f"{resource_type}/{resource_id}"
        current = f'W/"{versions[resource_type]}"'
        reads += [
            (f"{resource_type} read", path, {}),
            (f"{resource_type} read as XML", path, {"HTTP_ACCEPT": "application/fhir+xml"}),
            (f"{resource_type} vread", f"{path}/_history/{versions[resource_type]}", {}),
            (f"{resource_type} If-None-Match *", path, {"HTTP_IF_NONE_MATCH": "*"}),
            (f"{resource_type} If-None-Match current", path, {"HTTP_IF_NONE_MATCH": current}),
            (f"{resource_type} _summary", f"{path}?_summary=true", {}),
        ]
    reads += [
        ("Binary raw", f"Binary/{doc}", {"HTTP_ACCEPT": "application/pdf"}),
        ("Binary resource", f"Binary/{doc}", {"HTTP_ACCEPT": "application/fhir+json"}),
        ("Binary range", f"Binary/{doc}", {"HTTP_RANGE": "bytes=0-9"}),
    ]
    return reads


def _versions(owner, world: World) -> dict[str, str]:
    return {
        resource_type: owner.get(f"{FHIR}/{resource_type}/{world.own_id(resource_type)}").json()["meta"]["versionId"]
        for resource_type in ("DocumentReference", "Patient", "List")
    }


def _elsewhere(path: str, world: World) -> str:
    """``path`` with the World's ids replaced by ids nobody has."""
    for known in (world.document_id, world.patient_id, world.list_id):
        path = path.replace(known, str(uuid.uuid4()))
    return path


def _differences(what: str, path: str, theirs, nowhere: str, unknown, world: World) -> list[str]:
    """How the answer about the World's id differs from the answer about an id nobody has."""
    if theirs.status_code != 404 or unknown.status_code != 404:
        return [f"{what}: {theirs.status_code} for theirs, {unknown.status_code} for an unknown id, not 404"]
    problems = []
    if theirs.content.decode().replace(path, "") != unknown.content.decode().replace(nowhere, ""):
        problems.append(f"{what}: the answer differs from the one for an unknown id")
    problems += [
        f"{what} shows their {name}"
        for name, value in world.markers().items()
        if value in theirs.content.decode() and value not in path
    ]
    return problems


def test_another_organisations_ids_read_exactly_as_ids_that_do_not_exist_and_each_refusal_is_audited(
    world, owner, intruder, other_clinician
):
    denials = AuditEvent.objects.filter(action=Action.ACCESS_DENIED, actor_id=other_clinician.pk)
    problems = []
    for what, path, headers in _reads(world, _versions(owner, world)):
        before = denials.count()
        theirs = intruder.get(f"{FHIR}/{path}", **headers)
        audited = denials.count() - before
        nowhere = _elsewhere(path, world)
        problems += _differences(what, path, theirs, nowhere, intruder.get(f"{FHIR}/{nowhere}", **headers), world)
        if audited != 1:
            problems.append(f"{what}: {audited} access.denied events, not 1")
    assert "\n".join(problems) == ""


@pytest.mark.parametrize("resource_type", ["DocumentReference", "Patient", "List"])
def test_history_is_not_offered_so_it_answers_the_same_for_every_id(world, owner, intruder, resource_type):
    # Quill keeps no past versions (readHistory false, no history interaction in the CapabilityStatement):
    # the owner is told so, and another organisation gets the very same answer as for an id nobody has.
    path = f"{resource_type}/{world.own_id(resource_type)}/_history"
    own = owner.get(f"{FHIR}/{path}")
    nowhere = _elsewhere(path, world)

    assert own.status_code == 404 and own.json()["issue"][0]["details"]["coding"][0]["code"] == "not_supported"
    assert (
        _differences("history", path, intruder.get(f"{FHIR}/{path}"), nowhere, intruder.get(f"{FHIR}/{nowhere}"), world)
        == []
    )


# --- ITI-65 ---------------------------------------------------------------------------------------


@pytest.fixture
def recipient(settings, filesystem_storage, upload_tmp):
    settings.QUILL_SCANNER = "none"
    return filesystem_storage


def _with_bundled_patient(nhs_number: str) -> dict:
    """A bundle whose subject points at a Patient carried in the bundle (MHD's UnContained form), by NHS number."""
    full_url = "urn:uuid:0b1e5e4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b"
    bundle = provide_bundle([Doc(samples.pdf())], subject={"reference": full_url})
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": codes.NHS_NUMBER_SYSTEM, "value": nhs_number}],
    }
    bundle["entry"].append({"fullUrl": full_url, "resource": patient, "request": {"method": "GET", "url": "Patient"}})
    return bundle


def _pointing_at_binary(subject: dict, url: str) -> dict:
    """A bundle for ``subject`` whose document's attachment.url names a Binary outside the bundle."""
    bundle = provide_bundle([Doc(samples.pdf(), inline=True)], subject=subject)
    reference = next(entry for entry in bundle["entry"] if entry["resource"]["resourceType"] == "DocumentReference")
    attachment = reference["resource"]["content"][0]["attachment"]
    del attachment["data"]
    attachment["url"] = url
    return bundle


def _iti65_cases(world, other_patient) -> list[tuple[str, Callable[[str], dict], str, str]]:
    """(what, the bundle naming the World, the same bundle naming nothing Quill has, the value that differs)."""
    unknown_id, unknown_nhs = str(uuid.uuid4()), VALID_NHS_NUMBERS[3]
    theirs_subject = nhs_subject(other_patient.nhs_number)
    return [
        (
            "NHS number",
            lambda v: provide_bundle([Doc(samples.pdf())], subject=nhs_subject(v)),
            world.nhs_number,
            unknown_nhs,
        ),
        (
            "MRN",
            lambda v: provide_bundle(
                [Doc(samples.pdf())], subject={"identifier": {"system": codes.QUILL_MRN_SYSTEM, "value": v}}
            ),
            world.mrn,
            "NOBODY-MRN-1",
        ),
        (
            "Quill patient identifier",
            lambda v: provide_bundle(
                [Doc(samples.pdf())], subject={"identifier": {"system": codes.QUILL_PATIENT_SYSTEM, "value": v}}
            ),
            world.patient_id,
            unknown_id,
        ),
        (
            "Patient/<id>",
            lambda v: provide_bundle([Doc(samples.pdf())], subject={"reference": f"Patient/{v}"}),
            world.patient_id,
            unknown_id,
        ),
        (
            "absolute Patient URL",
            lambda v: provide_bundle([Doc(samples.pdf())], subject={"reference": f"{PUBLIC_BASE}/fhir/r4/Patient/{v}"}),
            world.patient_id,
            unknown_id,
        ),
        ("bundled Patient by NHS number", _with_bundled_patient, world.nhs_number, unknown_nhs),
        (
            "their Binary as attachment.url",
            lambda v: _pointing_at_binary(theirs_subject, f"{PUBLIC_BASE}/fhir/r4/Binary/{v}"),
            world.document_id,
            unknown_id,
        ),
        (
            "their Binary as a relative attachment.url",
            lambda v: _pointing_at_binary(theirs_subject, f"Binary/{v}"),
            world.document_id,
            unknown_id,
        ),
    ]


def test_no_iti65_reference_reaches_another_organisations_patient_or_document(
    world, recipient, other_patient, other_clinician, intruder
):
    cases = _iti65_cases(world, other_patient)
    refusals = AuditEvent.objects.filter(action=Action.FHIR_BUNDLE_REFUSED, actor_id=other_clinician.pk)
    documents_before = Document.objects.count()
    problems = []
    for what, build, value, nothing in cases:
        before = refusals.count()
        theirs = intruder.generic("POST", FHIR, as_json(build(value)), content_type="application/fhir+json")
        audited = refusals.count() - before
        unknown = intruder.generic("POST", FHIR, as_json(build(nothing)), content_type="application/fhir+json")
        if theirs.status_code not in (400, 422) or theirs.status_code != unknown.status_code:
            problems.append(f"{what}: {theirs.status_code} for theirs, {unknown.status_code} for nothing known")
        elif theirs.content.decode().replace(value, "?") != unknown.content.decode().replace(nothing, "?"):
            problems.append(f"{what}: the refusal differs from the one for nothing known")
        if audited != 1:
            problems.append(f"{what}: the refusal is not audited")
        problems += [
            f"{what} shows their {name}"
            for name, marker in world.markers().items()
            if marker in theirs.content.decode() and marker != value
        ]
    assert "\n".join(problems) == ""
    assert Document.objects.count() == documents_before
    assert SubmissionSet.objects.filter(organisation_id=other_clinician.organisation_id).count() == 0


def _shape(response) -> object:
    """What an answer says, without the ids it hands out (an inbox item's, a submission's)."""
    if response.status_code != 200:
        return response.status_code, response.content.decode()
    return 200, [(e["response"]["status"], e["response"].get("outcome")) for e in response.json()["entry"]]


def test_with_the_inbox_on_every_iti65_reference_to_another_organisation_goes_to_the_callers_inbox_alike(
    world, recipient, other_patient, other_clinician, intruder
):
    MhdSettings.objects.create(organisation_id=other_clinician.organisation_id, unknown_patient_to_inbox=True)
    documents_before = Document.objects.count()
    problems = []
    for what, build, value, nothing in _iti65_cases(world, other_patient):
        theirs = intruder.generic("POST", FHIR, as_json(build(value)), content_type="application/fhir+json")
        unknown = intruder.generic("POST", FHIR, as_json(build(nothing)), content_type="application/fhir+json")
        theirs_shape, unknown_shape = _shape(theirs), _shape(unknown)
        if theirs.status_code != 200:  # refused for another reason (a Binary outside the bundle): alike
            theirs_shape, unknown_shape = (
                (theirs.status_code, theirs.content.decode().replace(value, "?")),
                (unknown.status_code, unknown.content.decode().replace(nothing, "?")),
            )
        if theirs_shape != unknown_shape:
            problems.append(f"{what}: {theirs_shape} for theirs, {unknown_shape} for nothing known")
        problems += [
            f"{what} shows their {name}"
            for name, marker in world.markers().items()
            if marker in theirs.content.decode() and marker != value
        ]
    assert "\n".join(problems) == ""
    assert Document.objects.count() == documents_before
    assert InboxItem.objects.exclude(organisation_id=other_clinician.organisation_id).count() == 0
    assert InboxItem.objects.filter(organisation_id=other_clinician.organisation_id).count() == 12
