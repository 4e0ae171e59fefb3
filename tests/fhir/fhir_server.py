"""A small FHIR R4 server on a real socket, for testing Quill's FHIR client and sync.

No FHIR server can be installed on these machines, so this one follows the parts of the
R4 spec Quill relies on and validates what it receives -- with the R4B models *and* its
own explicit checks of required elements and code values, written from the spec rather
than imported from Quill, so a mapping bug is not mirrored here:

* ``PUT [base]/{DocumentReference|Patient}?identifier=system|value`` -- conditional update:
  no match creates (201, new id), one match updates (200, versionId bumped), several
  matches answer 412. Responses carry ``ETag: W/"n"`` and ``Location``.
* ``POST [base]/{type}`` with ``If-None-Exist: identifier=system|value`` -- conditional
  create: a match answers 200 with the existing resource (unchanged), none creates (201),
  several answer 412.
* ``PUT [base]/{type}/{id}`` -- update by id, which must carry ``If-Match: W/"n"`` (428
  without, 412 when n is not the current version, 404/410 for an unknown or deleted id).
* ``DELETE [base]/{type}/{id}`` -- 204, then reads answer 410; ``refuse_deletes`` makes it 405.
* ``GET [base]/{type}/{id}``, ``GET [base]/{type}?identifier=`` (searchset) and ``GET [base]/metadata``.
* Invalid resources get 400 with an OperationOutcome; nothing is stored. A DocumentReference
  that claims an IHE MHD profile must keep to MHD's status value set (current, superseded).

Fault injection: ``fail_next``, ``delay_next`` (the write is applied, then the response is
held back so the client times out), ``reject_next``. Optional basic or bearer auth, or
OAuth2 (SMART Backend Services): with ``oauth=TokenIssuer(...)`` the server has a token
endpoint at ``token_url`` that validates the client's assertion (tests/oauth_server.py),
and its API answers 401 without a token it issued.

    with FhirTestServer() as server:
        client = FhirClient(server.base_url)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from tests.oauth_server import TOKEN_PATH, TokenIssuer, serve_tls

FHIR_JSON = "application/fhir+json"
BASE_PATH = "/fhir"

# From the FHIR R4 value sets, independently of apps.fhir.codes.
_DOCUMENT_REFERENCE_STATUS = {"current", "superseded", "entered-in-error"}
_COMPOSITION_STATUS = {"preliminary", "final", "amended", "entered-in-error"}
_RELATIONSHIP_TYPES = {"replaces", "transforms", "signs", "appends"}
_GENDERS = {"male", "female", "other", "unknown"}
# IHE MHD 4.2.2 ValueSet DocumentReferenceStats: no entered-in-error.
_MHD_STATUS = {"current", "superseded"}
_MHD_PROFILE_PREFIX = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
_MODELS = {"DocumentReference": DocumentReference, "Patient": Patient}


class ResourceInvalid(Exception):
    """What the server says in a 400 OperationOutcome."""

    def __init__(self, diagnostics: str, code: str = "invalid") -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.code = code


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Fault:
    status: int
    retry_after: str | None = None


@dataclass
class FhirStore:
    """Resources by type and id, as stored (with id and meta set by the server)."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.resources.setdefault(resource_type, {})

    def matching_identifier(self, resource_type: str, system: str | None, value: str) -> list[dict[str, Any]]:
        return [
            resource
            for resource in self.of_type(resource_type).values()
            if any(_identifier_matches(identifier, system, value) for identifier in _identifiers(resource))
        ]


class FhirTestServer:
    """The server; use as a context manager. ``base_url`` ends in ``/fhir`` (no slash)."""

    def __init__(
        self,
        *,
        auth: tuple[str, ...] | None = None,
        refuse_deletes: bool = False,
        oauth: TokenIssuer | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``auth`` is None, ``("basic", username, password)`` or ``("bearer", token)``; or ``oauth``.

        ``tls`` (a server-side context) serves HTTPS, requiring a client certificate if the context does.
        """
        self.auth = auth
        self.tls = tls
        self.oauth = oauth
        self.refuse_deletes = refuse_deletes
        self.store = FhirStore()
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FhirTestServer:
        handler = type("BoundFhirHandler", (_Handler,), {"fhir": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            serve_tls(self._httpd, self.tls)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fhir-test-server", daemon=True
        )
        self._thread.start()
        if self.oauth is not None:
            self.oauth.token_url = self.token_url
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FhirTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}{BASE_PATH}"

    @property
    def token_url(self) -> str:
        return f"{self.origin}{TOKEN_PATH}"

    # -- fault injection --

    def fail_next(self, n: int = 1, status: int = 503, retry_after: str | float | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After``) without touching the store."""
        with self._lock:
            self._faults.extend(_Fault(status, None if retry_after is None else str(retry_after)) for _ in range(n))

    def reject_next(self, status: int = 400) -> None:
        """Answer the next request with ``status`` and an OperationOutcome, storing nothing."""
        self.fail_next(1, status=status)

    def delay_next(self, seconds: float) -> None:
        """Apply the next write, then wait ``seconds`` before answering (to force a client read timeout)."""
        with self._lock:
            self._delays.append(seconds)

    # -- other writers --

    def seed(self, resource_type: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a resource as if another system had written it (version 1); returns it with its id."""
        validate_resource(resource_type, resource)
        with self._lock:
            return self._store(resource_type, dict(resource), uuid.uuid4().hex[:16], 1)

    def touch(self, resource_type: str, resource_id: str) -> None:
        """Another writer changes the resource: its version goes up, so Quill's If-Match no longer holds."""
        with self._lock:
            stored = self.store.of_type(resource_type)[resource_id]
            self._store(resource_type, stored, resource_id, int(stored["meta"]["versionId"]) + 1)

    # -- inspection --

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.store.of_type(resource_type).values())

    def requests_to(self, method: str, resource_type: str) -> list[ReceivedRequest]:
        with self._lock:
            return [
                request
                for request in self.requests
                if request.method == method and request.path.rstrip("/").split("/")[-1] == resource_type
            ]

    # -- internals used by the handler --

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _take_delay(self) -> float:
        with self._lock:
            return self._delays.pop(0) if self._delays else 0.0

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _authorised(self, header: str | None) -> bool:
        if self.oauth is not None:
            return self.oauth.authorised(header)
        if self.auth is None:
            return True
        if header is None:
            return False
        if self.auth[0] == "basic":
            expected = base64.b64encode(f"{self.auth[1]}:{self.auth[2]}".encode()).decode()
            return header == f"Basic {expected}"
        if self.auth[0] == "bearer":
            return header == f"Bearer {self.auth[1]}"
        raise ValueError(f"unknown auth {self.auth[0]!r}")

    def _store(self, resource_type: str, resource: dict[str, Any], resource_id: str, version: int) -> dict[str, Any]:
        stored = dict(resource)
        stored["id"] = resource_id
        stored["meta"] = {
            **(resource.get("meta") or {}),
            "versionId": str(version),
            "lastUpdated": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        self.store.of_type(resource_type)[resource_id] = stored
        return stored

    def _conditional_create(
        self, resource_type: str, if_none_exist: str | None, body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any]]:
        _check_content_type(content_type)
        resource = _parse_json(body)
        validate_resource(resource_type, resource)
        if resource.get("id") is not None:
            raise ResourceInvalid("A create must not carry an id")
        with self._lock:
            if if_none_exist:
                criteria = parse_qs(if_none_exist)
                if set(criteria) != {"identifier"} or len(criteria["identifier"]) != 1:
                    raise ResourceInvalid("This server supports If-None-Exist on exactly one identifier= criterion")
                system, value = _split_token(criteria["identifier"][0])
                matches = self.store.matching_identifier(resource_type, system, value)
                if len(matches) > 1:
                    raise _MultipleMatches(if_none_exist)
                if matches:
                    return 200, matches[0]
            return 201, self._store(resource_type, resource, uuid.uuid4().hex[:16], 1)

    def _update_by_id(
        self, resource_type: str, resource_id: str, if_match: str | None, body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any]]:
        _check_content_type(content_type)
        resource = _parse_json(body)
        validate_resource(resource_type, resource)
        if resource.get("id") != resource_id:
            raise ResourceInvalid("The id in the body must be the id in the URL")
        with self._lock:
            existing = self.store.of_type(resource_type).get(resource_id)
            if existing is None:
                raise _Gone(410 if (resource_type, resource_id) in self.store.deleted else 404)
            if if_match is None:
                raise _PreconditionRequired()
            current = f'W/"{existing["meta"]["versionId"]}"'
            if if_match.strip() != current:
                raise _VersionConflict(f"If-Match {if_match} does not match the current version {current}")
            return 200, self._store(resource_type, resource, resource_id, int(existing["meta"]["versionId"]) + 1)

    def _delete(self, resource_type: str, resource_id: str) -> int:
        with self._lock:
            if self.refuse_deletes:
                raise _DeleteRefused()
            if self.store.of_type(resource_type).pop(resource_id, None) is not None:
                self.store.deleted.add((resource_type, resource_id))
            return 204

    def _conditional_update(
        self, resource_type: str, query: dict[str, list[str]], body: bytes, content_type: str | None
    ) -> tuple[int, dict[str, Any]]:
        _check_content_type(content_type)
        criteria = query.get("identifier") or []
        if len(criteria) != 1 or set(query) != {"identifier"}:
            raise ResourceInvalid("This server supports conditional update on exactly one identifier= criterion")
        system, value = _split_token(criteria[0])
        resource = _parse_json(body)
        validate_resource(resource_type, resource)
        if not any(_identifier_matches(identifier, system, value) for identifier in _identifiers(resource)):
            raise ResourceInvalid(f"The resource does not carry the identifier {criteria[0]!r} it is updated on")
        with self._lock:
            matches = self.store.matching_identifier(resource_type, system, value)
            if len(matches) > 1:
                raise _MultipleMatches(criteria[0])
            if matches:
                existing = matches[0]
                if resource.get("id") not in (None, existing["id"]):
                    raise ResourceInvalid("The id in the body does not match the resource found")
                version = int(existing["meta"]["versionId"]) + 1
                resource_id, status = existing["id"], 200
            else:
                if resource.get("id") is not None:
                    raise ResourceInvalid("This server does not allow client-assigned ids on conditional create")
                version, resource_id, status = 1, uuid.uuid4().hex[:16], 201
            stored = dict(resource)
            stored["id"] = resource_id
            stored["meta"] = {
                **(resource.get("meta") or {}),
                "versionId": str(version),
                "lastUpdated": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            }
            self.store.of_type(resource_type)[resource_id] = stored
        return status, stored


class _MultipleMatches(Exception):
    pass


class _VersionConflict(Exception):
    pass


class _PreconditionRequired(Exception):
    pass


class _DeleteRefused(Exception):
    pass


class _Gone(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _check_content_type(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip() != FHIR_JSON:
        raise ResourceInvalid(f"Content-Type must be {FHIR_JSON}, not {content_type!r}", code="not-supported")


# --- Validation (explicit, from the spec) ----------------------------------------------------------


def validate_resource(resource_type: str, resource: Any) -> None:
    """Raise ``ResourceInvalid`` unless ``resource`` is a valid R4 resource of that type for Quill's purposes."""
    if not isinstance(resource, dict):
        raise ResourceInvalid("The body must be a JSON object")
    if resource.get("resourceType") != resource_type:
        raise ResourceInvalid(f"resourceType must be {resource_type}, not {resource.get('resourceType')!r}")
    try:
        _MODELS[resource_type].model_validate(resource)
    except ValidationError as exc:
        raise ResourceInvalid(f"Not a valid R4 {resource_type}: {exc}", code="structure") from exc
    if not _identifiers(resource):
        raise ResourceInvalid(f"{resource_type} needs an identifier", code="required")
    if resource_type == "DocumentReference":
        _check_document_reference(resource)
    else:
        _check_patient(resource)


def _check_document_reference(resource: dict[str, Any]) -> None:
    if resource.get("status") not in _DOCUMENT_REFERENCE_STATUS:
        raise ResourceInvalid(
            f"DocumentReference.status {resource.get('status')!r} is not allowed", code="code-invalid"
        )
    profiles = (resource.get("meta") or {}).get("profile") or []
    if any(profile.startswith(_MHD_PROFILE_PREFIX) for profile in profiles) and resource["status"] not in _MHD_STATUS:
        raise ResourceInvalid(
            f"DocumentReference.status {resource['status']!r} is outside MHD's value set, yet it claims {profiles}",
            code="code-invalid",
        )
    if "docStatus" in resource and resource["docStatus"] not in _COMPOSITION_STATUS:
        raise ResourceInvalid(
            f"DocumentReference.docStatus {resource['docStatus']!r} is not allowed", code="code-invalid"
        )
    for relation in resource.get("relatesTo") or []:
        if relation.get("code") not in _RELATIONSHIP_TYPES:
            raise ResourceInvalid(f"relatesTo.code {relation.get('code')!r} is not allowed", code="code-invalid")
    subject = resource.get("subject") or {}
    if not (subject.get("reference") or (subject.get("identifier") or {}).get("value")):
        raise ResourceInvalid("DocumentReference.subject needs a reference or an identifier", code="required")
    content = resource.get("content") or []
    if not content:
        raise ResourceInvalid("DocumentReference.content is required (1..*)", code="required")
    attachment = content[0].get("attachment") or {}
    for element in ("contentType", "url", "size", "hash"):
        if attachment.get(element) in (None, ""):
            raise ResourceInvalid(f"content[0].attachment.{element} is required here", code="required")
    try:
        digest = base64.b64decode(attachment["hash"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResourceInvalid(f"attachment.hash is not base64: {exc}", code="value") from exc
    if len(digest) != 20:
        raise ResourceInvalid(f"attachment.hash must be a 20-byte SHA-1, got {len(digest)} bytes", code="value")


def _check_patient(resource: dict[str, Any]) -> None:
    if "gender" in resource and resource["gender"] not in _GENDERS:
        raise ResourceInvalid(f"Patient.gender {resource['gender']!r} is not allowed", code="code-invalid")


def _identifiers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    identifiers = list(resource.get("identifier") or [])
    if resource.get("masterIdentifier"):
        identifiers.append(resource["masterIdentifier"])
    return identifiers


def _identifier_matches(identifier: dict[str, Any], system: str | None, value: str) -> bool:
    if identifier.get("value") != value:
        return False
    return system is None or identifier.get("system") == system


def _split_token(token: str) -> tuple[str | None, str]:
    if "|" not in token:
        return None, token
    system, value = token.split("|", 1)
    return system, value


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResourceInvalid(f"The body is not JSON: {exc}", code="structure") from exc


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


# --- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fhir: FhirTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = parse_qs(url.query, keep_blank_values=True)
        self.fhir._record(ReceivedRequest(method, url.path, query, dict(self.headers.items()), body))
        if self.fhir.oauth is not None and url.path == TOKEN_PATH and method == "POST":
            status, answer = self.fhir.oauth.handle(self.headers, body)
            self._send(status, answer, {"Cache-Control": "no-store"})
            return
        if not self.fhir._authorised(self.headers.get("Authorization")):
            self._send(401, operation_outcome("login", "Authentication required"), {"WWW-Authenticate": "Bearer"})
            return
        fault = self.fhir._take_fault()
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            code = "transient" if fault.status >= 500 or fault.status == 429 else "invalid"
            self._send(fault.status, operation_outcome(code, f"Injected fault {fault.status}"), headers)
            return
        parts = (
            [part for part in url.path[len(BASE_PATH) :].split("/") if part] if url.path.startswith(BASE_PATH) else None
        )
        try:
            self._route(method, parts, query, body)
        except ResourceInvalid as exc:
            self._send(400 if exc.code != "not-supported" else 415, operation_outcome(exc.code, exc.diagnostics))
        except _MultipleMatches as exc:
            self._send(412, operation_outcome("multiple-matches", f"More than one resource matches {exc}"))
        except _VersionConflict as exc:
            self._send(412, operation_outcome("conflict", str(exc)))
        except _PreconditionRequired:
            self._send(428, operation_outcome("business-rule", "An update by id needs If-Match"))
        except _DeleteRefused:
            self._send(405, operation_outcome("not-supported", "This server does not delete resources"))
        except _Gone as exc:
            self._send(
                exc.status, operation_outcome("deleted" if exc.status == 410 else "not-found", "No such resource")
            )

    def _route(self, method: str, parts: list[str] | None, query: dict[str, list[str]], body: bytes) -> None:
        if parts == ["metadata"] and method == "GET":
            self._send(200, _capability_statement(self.fhir.base_url))
        elif parts and len(parts) == 1 and parts[0] in _MODELS and method == "PUT":
            status, stored = self.fhir._conditional_update(parts[0], query, body, self.headers.get("Content-Type"))
            version = stored["meta"]["versionId"]
            location = f"{self.fhir.base_url}/{parts[0]}/{stored['id']}/_history/{version}"
            delay = self.fhir._take_delay()
            if delay:
                self.fhir._stopping.wait(delay)
            self._send(status, stored, {"ETag": f'W/"{version}"', "Location": location})
        elif parts and len(parts) == 1 and parts[0] in _MODELS and method == "POST":
            status, stored = self.fhir._conditional_create(
                parts[0], self.headers.get("If-None-Exist"), body, self.headers.get("Content-Type")
            )
            self._send_written(parts[0], status, stored)
        elif parts and len(parts) == 2 and parts[0] in _MODELS and method == "PUT":
            status, stored = self.fhir._update_by_id(
                parts[0], parts[1], self.headers.get("If-Match"), body, self.headers.get("Content-Type")
            )
            self._send_written(parts[0], status, stored)
        elif parts and len(parts) == 2 and parts[0] in _MODELS and method == "DELETE":
            self._send(self.fhir._delete(parts[0], parts[1]), {})
        elif parts and len(parts) == 1 and parts[0] in _MODELS and method == "GET":
            self._send(200, self._search(parts[0], query))
        elif parts and len(parts) == 2 and parts[0] in _MODELS and method == "GET":
            with self.fhir._lock:
                stored = self.fhir.store.of_type(parts[0]).get(parts[1])
            if stored is None:
                raise _Gone(410 if (parts[0], parts[1]) in self.fhir.store.deleted else 404)
            else:
                self._send(200, stored, {"ETag": f'W/"{stored["meta"]["versionId"]}"'})
        else:
            self._send(404 if method == "GET" else 405, operation_outcome("not-supported", f"{method} {self.path}"))

    def _send_written(self, resource_type: str, status: int, stored: dict[str, Any]) -> None:
        version = stored["meta"]["versionId"]
        location = f"{self.fhir.base_url}/{resource_type}/{stored['id']}/_history/{version}"
        delay = self.fhir._take_delay()
        if delay:
            self.fhir._stopping.wait(delay)
        self._send(status, stored, {"ETag": f'W/"{version}"', "Location": location})

    def _search(self, resource_type: str, query: dict[str, list[str]]) -> dict[str, Any]:
        criteria = query.get("identifier")
        with self.fhir._lock:
            if criteria:
                system, value = _split_token(criteria[0])
                found = self.fhir.store.matching_identifier(resource_type, system, value)
            else:
                found = list(self.fhir.store.of_type(resource_type).values())
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [
                {
                    "fullUrl": f"{self.fhir.base_url}/{resource_type}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in found
            ],
        }

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8") if status != 204 else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{FHIR_JSON}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. a read timeout we forced); the write still happened.
            pass


def _capability_statement(base_url: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2024-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
        "implementation": {"description": "Quill test FHIR server", "url": base_url},
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": name,
                        "interaction": [
                            {"code": "read"},
                            {"code": "create"},
                            {"code": "update"},
                            {"code": "delete"},
                            {"code": "search-type"},
                        ],
                        "conditionalUpdate": True,
                        "conditionalCreate": True,
                        "updateCreate": False,
                        "searchParam": [{"name": "identifier", "type": "token"}],
                    }
                    for name in _MODELS
                ],
            }
        ],
    }


def running_fhir_server(**kwargs: Any) -> Iterator[FhirTestServer]:
    """Generator for a pytest fixture: ``yield from running_fhir_server()``."""
    with FhirTestServer(**kwargs) as server:
        yield server
