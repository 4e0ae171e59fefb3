"""An EHRbase stand-in on a real socket, following the openEHR REST API closely
enough to validate what Quill sends.

It parses uploaded OPTs with ``apps.letters.openehr.template`` and rejects any
FLAT key the template does not admit, checks basic auth, Content-Type, Prefer,
templateId and If-Match, and can inject failures (``fail_next``) or a slow
response *after* storing (``delay_next``) to imitate a lost response.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from apps.letters.errors import TemplateParseError
from apps.letters.openehr.client import REPORT_ID_AQL
from apps.letters.openehr.template import TemplateInfo, parse_template
from tests.oauth_server import TOKEN_PATH, TokenIssuer, serve_tls

BASE_PATH = "/ehrbase/rest/openehr/v1"
SYSTEM_ID = "quill-test"
REPORT_ID_AQL_PATH = "c/context/other_context[at0001]/items[at0002]/value/value"


@dataclass
class StoredEhr:
    ehr_id: str
    subject_id: str
    namespace: str
    status: dict[str, Any]


@dataclass
class StoredComposition:
    ehr_id: str
    template_id: str
    versioned_object_uid: str
    versions: list[dict[str, str]] = field(default_factory=list)

    @property
    def latest_uid(self) -> str:
        return f"{self.versioned_object_uid}::{SYSTEM_ID}::{len(self.versions)}"


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int


class FakeEhrbase:
    """Start with ``with FakeEhrbase(username=..., password=...) as server:``."""

    def __init__(
        self,
        *,
        username: str = "quill",
        password: str = "secret",  # noqa: S107 - test credentials
        oauth: TokenIssuer | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Basic auth with `username` and `password`, or OAuth2 bearer tokens from `oauth`'s token endpoint.

        `tls` (a server-side context) serves HTTPS, requiring a client certificate if the context does.
        """
        self.oauth = oauth
        self.tls = tls
        self.username = username
        self.password = password
        self.templates: dict[str, TemplateInfo] = {}
        self.ehrs: dict[str, StoredEhr] = {}
        self.compositions: dict[str, StoredComposition] = {}
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None]] = []
        self._delay = 0.0
        self._delay_match: tuple[str | None, str | None] = (None, None)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------

    def __enter__(self) -> FakeEhrbase:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            serve_tls(self._httpd, self.tls)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        if self.oauth is not None:
            self.oauth.token_url = self.token_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def origin(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}{BASE_PATH}"

    @property
    def token_url(self) -> str:
        return f"{self.origin}{TOKEN_PATH}"

    # --- fault injection ----------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` without handling them."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * n)

    def delay_next(self, seconds: float, *, method: str | None = None, path_suffix: str | None = None) -> None:
        """Handle (and store) the next request, then wait ``seconds`` before answering.

        With ``method`` and/or ``path_suffix``, the delay waits for the next request that matches.
        """
        with self._lock:
            self._delay = seconds
            self._delay_match = (method, path_suffix)

    # --- inspection -----------------------------------------------------------

    def compositions_in(self, ehr_id: str) -> list[StoredComposition]:
        with self._lock:
            return [c for c in self.compositions.values() if c.ehr_id == ehr_id]

    def requests_to(self, method: str, path_suffix: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def _take_failure(self) -> tuple[int, float | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _take_delay(self, method: str, path: str) -> float:
        with self._lock:
            want_method, want_suffix = self._delay_match
            if (want_method and method != want_method) or (want_suffix and not path.endswith(want_suffix)):
                return 0.0
            delay, self._delay = self._delay, 0.0
            return delay


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str) -> _Reply:
    reasons = {
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        409: "Conflict",
        412: "Precondition Failed",
        415: "Unsupported Media Type",
        422: "Unprocessable Entity",
    }
    return _Reply(status, {"error": reasons.get(status, "Error"), "message": message})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEhrbase
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --- dispatch -----------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        delay = 0.0
        if self.fake.oauth is not None and url.path == TOKEN_PATH and method == "POST":
            status, answer = self.fake.oauth.handle(self.headers, body)
            self._send(_Reply(status, answer, {"Cache-Control": "no-store"}))
            return
        try:
            self._check_auth()
            failure = self.fake._take_failure()
            if failure is not None:
                status, retry_after = failure
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                raise _Reply(status, {"error": "Injected", "message": "injected failure"}, headers)
            if not url.path.startswith(BASE_PATH):
                raise _error(404, "No such endpoint.")
            route = url.path[len(BASE_PATH) :]
            reply = self._route(method, route, query, body)
            delay = self.fake._take_delay(method, url.path)
        except _Reply as exc:
            reply = exc
        self.fake.requests.append(LoggedRequest(method, url.path, query, dict(self.headers.items()), reply.status))
        if delay:
            time.sleep(delay)
        self._send(reply)

    def _route(self, method: str, route: str, query: dict[str, list[str]], body: bytes) -> _Reply:
        parts = [unquote(p) for p in route.strip("/").split("/")]
        if method == "POST" and parts == ["definition", "template", "adl1.4"]:
            return self._upload_template(body)
        if method == "GET" and parts == ["definition", "template", "adl1.4"]:
            return _Reply(200, [{"template_id": template_id} for template_id in self.fake.templates])
        if parts == ["ehr"] and method == "GET":
            return self._find_ehr(query)
        if parts == ["ehr"] and method == "POST":
            return self._create_ehr(body)
        if len(parts) == 3 and parts[0] == "ehr" and parts[2] == "composition" and method == "POST":
            return self._post_composition(parts[1], query, body)
        if len(parts) == 4 and parts[0] == "ehr" and parts[2] == "composition":
            if method == "PUT":
                return self._put_composition(parts[1], parts[3], query, body)
            if method == "GET":
                return self._get_composition(parts[1], parts[3])
        if parts == ["query", "aql"] and method == "POST":
            return self._aql(body)
        raise _error(404, f"No endpoint for {method} {route}.")

    # --- checks ---------------------------------------------------------------

    def _check_auth(self) -> None:
        if self.fake.oauth is not None:
            if not self.fake.oauth.authorised(self.headers.get("Authorization")):
                raise _Reply(401, {"error": "Unauthorized"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        expected = base64.b64encode(f"{self.fake.username}:{self.fake.password}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            raise _Reply(401, {"error": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="ehrbase"'})

    def _require_content_type(self, expected: str) -> None:
        actual = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if actual != expected:
            raise _error(415, f"Content-Type must be {expected}, got {actual or 'none'}.")

    def _require_prefer_representation(self) -> None:
        if self.headers.get("Prefer") != "return=representation":
            raise _error(400, "This stand-in expects Prefer: return=representation.")

    def _json_body(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _error(400, f"Body is not JSON: {exc}") from exc

    def _ehr(self, ehr_id: str) -> StoredEhr:
        ehr = self.fake.ehrs.get(ehr_id)
        if ehr is None:
            raise _error(404, f"EHR with id {ehr_id} not found.")
        return ehr

    def _template_for(self, query: dict[str, list[str]]) -> TemplateInfo:
        if query.get("format") != ["FLAT"]:
            raise _error(400, "format=FLAT is required by this stand-in.")
        template_id = (query.get("templateId") or [""])[0]
        template = self.fake.templates.get(template_id)
        if template is None:
            raise _error(422, f"Unknown template with template id {template_id!r}.")
        return template

    def _validate_flat(self, template: TemplateInfo, body: bytes) -> dict[str, str]:
        flat = self._json_body(body)
        if not isinstance(flat, dict) or not flat:
            raise _error(400, "A FLAT composition is a non-empty JSON object.")
        unknown = sorted(k for k in flat if not template.admits(k))
        if unknown:
            raise _error(400, f"Could not consume parts {unknown} for template {template.template_id}.")
        wrong = sorted(k for k, v in flat.items() if not isinstance(v, str))
        if wrong:
            raise _error(400, f"Values must be strings here: {wrong}.")
        return flat

    # --- endpoints ------------------------------------------------------------

    def _upload_template(self, body: bytes) -> _Reply:
        self._require_content_type("application/xml")
        try:
            template = parse_template(body)
        except TemplateParseError as exc:
            raise _error(400, exc.message) from exc
        with self.fake._lock:
            if template.template_id in self.fake.templates:
                raise _error(409, f"Operational template with this template ID {template.template_id} already exists.")
            self.fake.templates[template.template_id] = template
        return _Reply(201, None, {"Location": f"{BASE_PATH}/definition/template/adl1.4/{template.template_id}"})

    def _find_ehr(self, query: dict[str, list[str]]) -> _Reply:
        subject_id = (query.get("subject_id") or [""])[0]
        namespace = (query.get("subject_namespace") or [""])[0]
        if not subject_id or not namespace:
            raise _error(400, "subject_id and subject_namespace are required.")
        for ehr in self.fake.ehrs.values():
            if (ehr.subject_id, ehr.namespace) == (subject_id, namespace):
                return _Reply(200, _ehr_json(ehr))
        raise _error(404, "No EHR found for subject.")

    def _create_ehr(self, body: bytes) -> _Reply:
        self._require_content_type("application/json")
        status = self._json_body(body)
        try:
            assert status["_type"] == "EHR_STATUS"
            assert status["archetype_node_id"] == "openEHR-EHR-EHR_STATUS.generic.v1"
            assert status["name"]["value"]
            ref = status["subject"]["external_ref"]
            subject_id, namespace = ref["id"]["value"], ref["namespace"]
            assert isinstance(subject_id, str) and subject_id and isinstance(namespace, str) and namespace
            assert isinstance(status["is_queryable"], bool) and isinstance(status["is_modifiable"], bool)
        except (AssertionError, KeyError, TypeError) as exc:
            raise _error(400, f"Invalid EHR_STATUS: {exc!r}.") from exc
        with self.fake._lock:
            for ehr in self.fake.ehrs.values():
                if (ehr.subject_id, ehr.namespace) == (subject_id, namespace):
                    raise _error(409, "Partyself ID already used in another EHR.")
            ehr = StoredEhr(str(uuid.uuid4()), subject_id, namespace, status)
            self.fake.ehrs[ehr.ehr_id] = ehr
        body_out = _ehr_json(ehr) if self.headers.get("Prefer") == "return=representation" else None
        return _Reply(201, body_out, {"Location": f"{BASE_PATH}/ehr/{ehr.ehr_id}", "ETag": f'"{ehr.ehr_id}"'})

    def _post_composition(self, ehr_id: str, query: dict[str, list[str]], body: bytes) -> _Reply:
        self._require_content_type("application/json")
        self._require_prefer_representation()
        self._ehr(ehr_id)
        template = self._template_for(query)
        flat = self._validate_flat(template, body)
        with self.fake._lock:
            stored = StoredComposition(ehr_id, template.template_id, str(uuid.uuid4()), [flat])
            self.fake.compositions[stored.versioned_object_uid] = stored
        return self._composition_reply(201, stored, template)

    def _put_composition(self, ehr_id: str, vo_uid: str, query: dict[str, list[str]], body: bytes) -> _Reply:
        self._require_content_type("application/json")
        self._require_prefer_representation()
        self._ehr(ehr_id)
        template = self._template_for(query)
        if_match = (self.headers.get("If-Match") or "").strip().strip('"')
        if not if_match:
            raise _error(400, "If-Match with the preceding version uid is required.")
        flat = self._validate_flat(template, body)
        with self.fake._lock:
            stored = self.fake.compositions.get(vo_uid.split("::")[0])
            if stored is None or stored.ehr_id != ehr_id:
                raise _error(404, f"Composition {vo_uid} not found.")
            if if_match != stored.latest_uid:
                raise _error(412, f"Preceding version {if_match} is not the latest ({stored.latest_uid}).")
            stored.versions.append(flat)
        return self._composition_reply(200, stored, template)

    def _get_composition(self, ehr_id: str, uid: str) -> _Reply:
        self._ehr(ehr_id)
        vo_uid, _, rest = uid.partition("::")
        stored = self.fake.compositions.get(vo_uid)
        if stored is None or stored.ehr_id != ehr_id:
            raise _error(404, f"Composition {uid} not found.")
        version = len(stored.versions)
        if rest:
            version = int(rest.rsplit("::", 1)[-1])
            if not 1 <= version <= len(stored.versions):
                raise _error(404, f"Composition version {uid} not found.")
        template = self.fake.templates[stored.template_id]
        body = dict(stored.versions[version - 1])
        body[f"{template.root_id}/_uid"] = f"{vo_uid}::{SYSTEM_ID}::{version}"
        return _Reply(200, body, {"ETag": f'"{vo_uid}::{SYSTEM_ID}::{version}"'})

    def _aql(self, body: bytes) -> _Reply:
        self._require_content_type("application/json")
        request = self._json_body(body)
        if request.get("q") != REPORT_ID_AQL:
            raise _error(400, "This stand-in answers only the report-id query.")
        params = request.get("query_parameters") or {}
        rows = []
        for stored in self.fake.compositions_in(params.get("ehr_id", "")):
            if stored.template_id != params.get("template_id"):
                continue
            root = self.fake.templates[stored.template_id].root_id
            if stored.versions[-1].get(f"{root}/context/report_id") == params.get("report_id"):
                rows.append([stored.latest_uid])
        return _Reply(200, {"q": request["q"], "columns": [{"name": "uid", "path": "c/uid/value"}], "rows": rows})

    def _composition_reply(self, status: int, stored: StoredComposition, template: TemplateInfo) -> _Reply:
        uid = stored.latest_uid
        body = dict(stored.versions[-1])
        body[f"{template.root_id}/_uid"] = uid
        headers = {
            "ETag": f'"{uid}"',
            "Location": f"{BASE_PATH}/ehr/{stored.ehr_id}/composition/{uid}",
        }
        return _Reply(status, body, headers)

    # --- output ---------------------------------------------------------------

    def _send(self, reply: _Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out) — the write still happened


def _ehr_json(ehr: StoredEhr) -> dict[str, Any]:
    return {
        "system_id": {"value": SYSTEM_ID},
        "ehr_id": {"value": ehr.ehr_id},
        "ehr_status": ehr.status,
        "time_created": {"value": "2024-01-01T00:00:00Z"},
    }
