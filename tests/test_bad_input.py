"""Bad input never gives a 500: every parameter of every route is sent a NUL, a lone surrogate,
overlong UTF-8 and a 10,000-character value.

Routes are enumerated, never listed here: the REST API from its OpenAPI schema, FHIR from its
CapabilityStatement, the portal from the URL resolver and the forms its pages show. A new route,
parameter or form field is swept without touching this file; a new kind of path parameter fails
loudly until ``_path_values`` knows an object for it.

Invalid characters in a query string, url-encoded form or JSON body, in a header or in the
address must be refused with 400 ``invalid_characters`` (quill/input_guard.py). Multipart bodies
are decoded by Django, which replaces bytes that are not UTF-8 with U+FFFD, so there only a NUL
is refused; the rest must merely not fail. The long value may be accepted or refused, never 500.
Every request runs in a savepoint that is rolled back, so each one meets the same records.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from apps.audit.models import AuditEvent, Outcome
from apps.documents.models import Annotation
from tests import factories
from tests.documents.helpers import stored_document
from tests.documents.samples import pdf

NUL, SURROGATE, OVERLONG, LONG = "nul", "surrogate", "overlong", "long"
INVALID = (NUL, SURROGATE, OVERLONG)
KINDS = (*INVALID, LONG)
LONG_TEXT = "9" * 10_000  # digits: also meets every int() and isdigit() on the way

# Each kind as percent-encoded text (query strings, url-encoded bodies, addresses) ...
PERCENT = {NUL: "a%00b", SURROGATE: "a%ED%A0%80b", OVERLONG: "a%C0%AFb", LONG: LONG_TEXT}
# ... as the bytes inside a JSON string (a surrogate escape, an overlong sequence raw) ...
IN_JSON = {NUL: b"a\\u0000b", SURROGATE: b"a\\ud800b", OVERLONG: b"a\xc0\xafb", LONG: LONG_TEXT.encode()}
# ... and raw, as a multipart part or a header carries them.
RAW = {NUL: b"a\x00b", SURROGATE: b"a\xed\xa0\x80b", OVERLONG: b"a\xc0\xafb", LONG: LONG_TEXT.encode()}

# Where a refusal of invalid characters is required (kind -> channels); elsewhere: no 500.
REFUSED_IN = {
    NUL: {"query", "form", "json", "path", "header", "multipart"},
    SURROGATE: {"query", "form", "json"},
    OVERLONG: {"query", "form", "json"},
}
PAGINATION = ("page", "page_size")  # answered by every list, declared by none
BOUNDARY = "quill-sweep-boundary"


# --- the world every request meets ---------------------------------------------------------------


@dataclass
class World:
    user: Any
    objects: dict[str, str]
    pdf: bytes = field(default_factory=lambda: pdf(pages=1))


@pytest.fixture
def world(organisation, patient, settings, tmp_path) -> World:
    from apps.letters.services import letter_create
    from apps.reviews.models import Priority
    from apps.reviews.services import assign_review
    from tests.inbox.helpers import make_source, receive

    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files")},
        },
    }
    settings.QUILL_STORAGE = "filesystem"
    user = factories.make_user(organisation, ["clinician", "administrator"], totp=True)
    document = stored_document(user=user, patient=patient, data=pdf(pages=1))
    annotation = Annotation.objects.create(document=document, kind="text", page=1, geometry={}, author=user)
    letter = letter_create(actor=user, patient=patient, recipient_name="Dr J Smith", subject="Follow-up", body="Seen.")
    review = assign_review(
        document, assignee=user, priority=Priority.ROUTINE, due_date=datetime.date.today(), assigned_by=user
    )
    item = receive(make_source(organisation), pdf(pages=1), filename="scan.pdf").item
    return World(
        user=user,
        objects={
            "patient_id": str(patient.pk),
            "document_id": str(document.pk),
            "annotation_id": str(annotation.pk),
            "letter_id": str(letter.pk),
            "review_id": str(review.pk),
            "item_id": str(item.pk),
            "user_id": str(user.pk),
            "token": "not-a-signed-token",
            "page": "1",
            "size": "photo",
        },
    )


def _path_values(world: World, names: list[str]) -> dict[str, str]:
    unknown = [name for name in names if name not in world.objects]
    assert not unknown, f"the sweep has no object for the path parameter(s) {unknown}: add one to `world`"
    return {name: world.objects[name] for name in names}


# --- sending and judging --------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    family: str  # api, fhir, portal
    method: str
    path: str  # already percent-encoded
    query: str = ""
    body: bytes = b""
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""
    channel: str = ""
    parameter: str = ""

    def __str__(self) -> str:
        return f"{self.method} {self.path[:80]} {self.channel} {self.parameter!r} = {self.kind}"


def _send(client: Client, probe: Probe) -> tuple[Any, list[str]]:
    """The response, and the actions of the successful audit events the request wrote (then rolled back)."""
    extra: dict[str, Any] = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in probe.headers.items()}
    if probe.query:
        extra["QUERY_STRING"] = probe.query
    with transaction.atomic():
        last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        response = client.generic(
            probe.method, probe.path, data=probe.body, content_type=probe.content_type or "text/plain", **extra
        )
        written = AuditEvent.objects.filter(pk__gt=last, outcome=Outcome.SUCCESS).values_list("action", flat=True)
        successes = list(written)
        transaction.set_rollback(True)
    return response, successes


def _error_code(probe: Probe, response) -> str | None:
    content_type = response.get("Content-Type", "")
    if probe.family == "portal" and content_type.startswith("text/html"):
        return "page"
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if probe.family == "fhir":
        codings = [coding for issue in body.get("issue", []) for coding in issue.get("details", {}).get("coding", [])]
        return next((coding.get("code") for coding in codings), None)
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail.get("error_code") if isinstance(detail, dict) else None


def _judge(probe: Probe, response, successes: list[str], *, unavailable: bool = False) -> str | None:
    """What is wrong with the answer, or None. `unavailable`: the route answers 503 to plain input too."""
    status = response.status_code
    refusal_required = probe.channel in REFUSED_IN.get(probe.kind, ())
    if status == 503 and unavailable and not refusal_required:
        return None
    if status >= 500:
        return f"{status}"
    code = _error_code(probe, response) if status >= 400 else None
    if status >= 400 and code is None:
        return f"{status} without an error_code"
    if refusal_required:
        if successes:
            return f"{status}, yet it was carried out: {successes}"
        # A portal form posted as multipart is refused by the view: a redirect carrying the message.
        form_refusal = probe.family == "portal" and probe.channel == "multipart" and status in (302, 303)
        expected = "page" if probe.family == "portal" else "invalid_characters"
        if not form_refusal and (status != 400 or code != expected):
            return f"{status} {code}, not a 400 invalid_characters refusal"
    return None


def _sweep(client: Client, probes: list[Probe], *, unavailable: bool = False) -> str:
    """Send every probe; the failures, one a line (empty when every answer was right)."""
    failures = []
    for probe in probes:
        response, successes = _send(client, probe)
        problem = _judge(probe, response, successes, unavailable=unavailable)
        if problem:
            failures.append(f"{probe}: {problem}: {response.content[:160]!r}")
    return "\n".join(failure.replace(LONG_TEXT, "<10,000 nines>") for failure in failures)


def _multipart(fields: dict[str, bytes], files: dict[str, bytes]) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value)
    for name, data in files.items():
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="scan.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        )
        parts.append(head.encode() + data)
    return b"\r\n".join(parts) + f"\r\n--{BOUNDARY}--\r\n".encode()


def _body_probes(base: Probe, fields: dict[str, Any], encoding: str, files: dict[str, bytes]) -> Iterator[Probe]:
    """One probe per field and kind, the other fields keeping their plain values."""
    for name in fields:
        for kind in KINDS:
            others = {key: value for key, value in fields.items() if key != name and value is not None}
            if encoding == "json":
                body = (
                    json.dumps({**others, name: "\x01FUZZ\x01"}).encode().replace(b"\\u0001FUZZ\\u0001", IN_JSON[kind])
                )
                content_type, channel = "application/json", "json"
            elif encoding == "form":
                body = (urlencode(others) + ("&" if others else "") + f"{quote(name)}={PERCENT[kind]}").encode()
                content_type, channel = "application/x-www-form-urlencoded", "form"
            else:
                plain = {key: value.encode() for key, value in others.items()}
                body = _multipart({**plain, name: RAW[kind]}, files)
                content_type, channel = f"multipart/form-data; boundary={BOUNDARY}", "multipart"
            yield Probe(
                base.family, base.method, base.path, base.query, body, content_type, kind=kind, channel=channel,
                parameter=name,
            )  # fmt: skip


def _query_probes(base: Probe, names: list[str], plain: dict[str, str] | None = None) -> Iterator[Probe]:
    for name in names:
        others = urlencode({key: value for key, value in (plain or {}).items() if key != name})
        for kind in KINDS:
            query = (others + "&" if others else "") + f"{quote(name)}={PERCENT[kind]}"
            yield Probe(
                base.family, base.method, base.path, query, base.body, base.content_type, kind=kind, channel="query",
                parameter=name,
            )  # fmt: skip


def _path_probes(base: Probe, names: list[str], build: Callable[[str, str], str]) -> Iterator[Probe]:
    """`build(name, text)`: the address with the parameter `name` set to `text` (percent-encoded)."""
    for name in names:
        for kind in KINDS:
            yield Probe(
                base.family, base.method, build(name, PERCENT[kind]), base.query, base.body, base.content_type,
                kind=kind, channel="path", parameter=name,
            )  # fmt: skip


def _header_probes(base: Probe, names: list[str]) -> Iterator[Probe]:
    for name in names:
        for kind in KINDS:
            value = RAW[kind].decode("iso-8859-1")  # as a WSGI server hands header bytes over
            yield Probe(
                base.family, base.method, base.path, base.query, base.body, base.content_type, {name: value},
                kind=kind, channel="header", parameter=name,
            )  # fmt: skip


# Headers every route reads or logs (the middleware, sessions, logging, audit), besides those a route declares.
COMMON_HEADERS = ["User-Agent", "X-Request-ID", "Accept", "Accept-Language", "Cookie", "X-Forwarded-For"]


# --- REST API, from the OpenAPI schema --------------------------------------------------------------


def _plain_value(name: str, schema: dict, world: World) -> Any:
    """A value the field accepts, so the fuzzed field is not the only thing wrong."""
    if name in world.objects:
        return world.objects[name]
    if "enum" in schema:
        return schema["enum"][0]
    if "allOf" in schema or "oneOf" in schema or "$ref" in schema:
        return "other"  # the choice enums (category, sex) are components; "other" is one of both
    kind, form = schema.get("type"), schema.get("format")
    if form == "date":
        return "2024-03-05"
    return {"integer": 1, "boolean": False, "object": {}, "array": []}.get(kind, "Plain text")


def _api_operations() -> list[tuple[str, str, dict, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            bodies = {}
            for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
                ref = content.get("schema", {}).get("$ref", "")
                bodies[content_type] = components[ref.rsplit("/", 1)[-1]] if ref else content.get("schema", {})
            operations.append((method.upper(), path, operation, bodies))
    return operations


API_OPERATIONS = _api_operations()


@pytest.mark.parametrize(
    ("method", "template", "operation", "bodies"), API_OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in API_OPERATIONS]
)
def test_api_route_survives_bad_input(world, method, template, operation, bodies):
    client = factories.token_client(world.user)
    client.raise_request_exception = False
    parameters = operation.get("parameters", [])
    path_names = [p["name"] for p in parameters if p["in"] == "path"]
    values = _path_values(world, path_names)

    def build(name: str, text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda match: text if match[1] == name else quote(values[match[1]]), template)

    path = build("", "")
    base = Probe("api", method, path)
    query_names = [p["name"] for p in parameters if p["in"] == "query"]
    query_names += [name for name in PAGINATION if method == "GET" and name not in query_names]
    # Only the required ones keep a plain value: an optional filter left plain could refuse the
    # request before the fuzzed one is read.
    plain_query = {
        p["name"]: str(_plain_value(p["name"], p.get("schema", {}), world))
        for p in parameters
        if p["in"] == "query" and p.get("required")
    }
    header_names = [p["name"] for p in parameters if p["in"] == "header"]
    if "application/octet-stream" in bodies:  # the direct upload: the file is the body, its details the query
        base = Probe("api", method, path, urlencode(plain_query), world.pdf, "application/octet-stream")
    probes = [*_path_probes(base, path_names, build), *_query_probes(base, query_names, plain_query)]
    probes += _header_probes(base, header_names)
    for content_type, encoding in (
        ("application/json", "json"),
        ("application/x-www-form-urlencoded", "form"),
        ("multipart/form-data", "multipart"),
    ):
        if content_type in bodies:
            properties = bodies[content_type].get("properties", {})
            required = set(bodies[content_type].get("required", []))
            fields = {
                name: _plain_value(name, spec, world) if name in required else None for name, spec in properties.items()
            }
            if encoding != "json":
                fields = {name: None if value is None else str(value) for name, value in fields.items()}
            files = {"file": world.pdf, "files": world.pdf} if encoding == "multipart" else {}
            probes += _body_probes(base, fields, encoding, files)
    failures = _sweep(client, probes)
    assert not failures, failures


# --- FHIR, from the CapabilityStatement --------------------------------------------------------------


def test_fhir_routes_survive_bad_input(world, client):
    metadata = client.get("/fhir/r4/metadata").json()
    token_client = factories.token_client(world.user)
    token_client.raise_request_exception = False
    probes: list[Probe] = []
    for resource in metadata["rest"][0]["resource"]:
        interactions = {interaction["code"] for interaction in resource.get("interaction", [])}
        if "search-type" in interactions:
            base = Probe("fhir", "GET", f"/fhir/r4/{resource['type']}")
            names = [param["name"] for param in resource.get("searchParam", [])] + ["_format"]
            probes += _query_probes(base, names)
            probes += _header_probes(base, ["Prefer"])
        if "read" in interactions:
            resource_id = str(uuid.uuid4())
            base = Probe("fhir", "GET", f"/fhir/r4/{resource['type']}/{resource_id}")
            probes += _path_probes(base, ["id"], lambda _, text, kind=resource["type"]: f"/fhir/r4/{kind}/{text}")
            probes += _query_probes(base, ["_format"])
    assert len(probes) > 100  # the CapabilityStatement was read
    failures = _sweep(token_client, probes)
    assert not failures, failures


# --- the portal, from the URL resolver and the forms its pages show --------------------------------


@dataclass(frozen=True)
class PortalRoute:
    name: str
    kwargs: tuple[str, ...]


def _portal_routes(resolver: URLResolver | None = None, namespace: str = "") -> list[PortalRoute]:
    resolver = resolver or get_resolver()
    routes = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith(("admin/", "api/", "fhir/")):
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            routes.extend(_portal_routes(pattern, inner))
        elif isinstance(pattern, URLPattern) and pattern.name and not str(pattern.pattern).startswith(("api", "fhir")):
            routes.append(PortalRoute(f"{namespace}{pattern.name}", tuple(pattern.pattern.regex.groupindex)))
    return routes


PORTAL_ROUTES = _portal_routes()


class _Forms(HTMLParser):
    """Every form of a page: method, action, enctype and its fields' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "method": values.get("method", "get").upper(),
                    "action": values.get("action", ""),
                    "enctype": values.get("enctype", ""),
                    "fields": {},
                    "files": [],
                }
            )
        elif self.forms and tag in ("input", "select", "textarea", "button") and values.get("name"):
            form, name = self.forms[-1], values["name"]
            if name == "csrfmiddlewaretoken":
                return
            if values.get("type") == "file":
                form["files"].append(name)
            elif values.get("type") not in ("checkbox", "radio") or "checked" in values:
                form["fields"].setdefault(name, values.get("value", ""))
            else:
                form["fields"].setdefault(name, values.get("value", "on"))
            self._textarea = name if tag == "textarea" else None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=[route.name for route in PORTAL_ROUTES])
def test_portal_route_survives_bad_input(world, route):
    client = factories.signed_in_client(world.user)
    client.raise_request_exception = False
    values = _path_values(world, list(route.kwargs))
    path = reverse(route.name, kwargs=values)

    def build(name: str, text: str) -> str:
        # A stand-in the parameter's converter accepts, unique in the address, then replaced.
        stand_in = (
            str(uuid.uuid4()) if _is_uuid(values[name]) else ("987654321" if values[name].isdigit() else "stand-in")
        )
        return reverse(route.name, kwargs={**values, name: stand_in}).replace(stand_in, text)

    base = Probe("portal", "GET", path)
    probes = [*_path_probes(base, list(values), build), *_query_probes(base, ["page", "q"])]
    page = client.get(path)
    unavailable = page.status_code == 503  # /readyz, while a service it checks is not running here
    assert page.status_code < 500 or unavailable
    parser = _Forms()
    if page.get("Content-Type", "").startswith("text/html"):
        parser.feed(page.content.decode())
    for form in parser.forms:
        action = urlsplit(form["action"]).path or path
        target = Probe("portal", form["method"], action)
        if form["method"] == "GET":
            probes += _query_probes(target, list(form["fields"]), form["fields"])
        else:
            encoding = "multipart" if form["enctype"] == "multipart/form-data" else "form"
            files = dict.fromkeys(form["files"], world.pdf)
            probes += _body_probes(target, dict(form["fields"]), encoding, files)
    failures = _sweep(client, probes, unavailable=unavailable)
    assert not failures, failures


# --- headers every route reads --------------------------------------------------------------------


def test_common_headers_survive_bad_input(world):
    """The headers no route declares but every request passes through middleware, logging and audit."""
    objects = world.objects
    routes = [
        (factories.token_client(world.user), Probe("api", "GET", "/api/patients/")),
        (factories.token_client(world.user), Probe("api", "GET", f"/api/documents/{objects['document_id']}/")),
        (factories.token_client(world.user), Probe("fhir", "GET", "/fhir/r4/DocumentReference")),
        (factories.signed_in_client(world.user), Probe("portal", "GET", f"/patients/{objects['patient_id']}/")),
        (Client(), Probe("portal", "GET", "/accounts/sign-in/")),
    ]
    failures = []
    for client, base in routes:
        client.raise_request_exception = False
        failures.append(_sweep(client, list(_header_probes(base, COMMON_HEADERS))))
    assert not any(failures), "\n".join(failures)
