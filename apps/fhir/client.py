"""A small FHIR R4 client for pushing Quill's resources to an external server (HAPI).

A resource's first write is a conditional update on a Quill identifier
(``PUT [base]/DocumentReference?identifier=urn:quill:document|<uuid>``), so sending the
same resource twice -- for instance after a timeout whose write did land -- updates the
one resource instead of creating a second; a Patient is created with ``If-None-Exist``
on the NHS number, so one registered there already is reused. Later writes go to the
resource's id with ``If-Match`` on the version Quill saw (412: re-read, try again), and
an erasure deletes it. The client makes one attempt per call; the
outbox relay decides when to retry, using the error class to tell transient from terminal.

With OAuth2 (SMART Backend Services, quill/oauth.py) each request carries the shared access
token; a 401 makes the client drop that token and try once more with a fresh one, and a
second 401 is terminal (the server does not accept Quill's client, whatever the token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests

from apps.fhir.errors import (
    FhirConfigurationError,
    FhirDeleteRefused,
    FhirRejectedError,
    FhirResourceGone,
    FhirRetryableError,
    FhirVersionConflict,
)
from quill.http import parse_retry_after
from quill.oauth import OAuthRefused, OAuthUnavailable, TokenSource
from quill.tls import describe_tls_error

from . import codes

AuthMode = Literal["none", "basic", "bearer", "oauth2"]
Timeout = float | tuple[float, float]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
_RETRYABLE_STATUSES = frozenset({408, 429})
_HISTORY_RE = re.compile(
    r"/(?P<type>[A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?/?$"
)
_ETAG_RE = re.compile(r'^(?:W/)?"(?P<vid>[^"]*)"$')


@dataclass(frozen=True, slots=True)
class FhirWriteResult:
    """Where the server put the resource: its id, version and whether it was new."""

    id: str
    version_id: str | None
    created: bool


class FhirClient:
    """Conditional-update writer for one FHIR R4 server base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: AuthMode = "none",
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        token_source: TokenSource | None = None,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
    ) -> None:
        if not re.match(r"^https?://[^/\s]+", base_url or ""):
            raise FhirConfigurationError("The FHIR base URL must be an absolute http(s) URL (QUILL_FHIR_BASE_URL).")
        self.base_url = base_url.rstrip("/")
        self.timeout = _normalise_timeout(timeout)
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": codes.FHIR_JSON_MIME_TYPE, "User-Agent": "Quill-FHIR-client"})
        # Passed with every request: a session's own would lose to REQUESTS_CA_BUNDLE in the environment.
        self.verify, self.cert = verify, cert
        if auth == "oauth2" and token_source is None:
            raise FhirConfigurationError("OAuth2 needs the QUILL_FHIR_OAUTH_* settings (token URL, client id, key).")
        self.token_source = token_source if auth == "oauth2" else None
        if auth != "oauth2":
            _configure_auth(self.session, auth, username=username, password=password, token=token)

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def put_document_reference(self, resource: Mapping[str, Any]) -> FhirWriteResult:
        """Create or update the DocumentReference identified by its ``urn:quill:document`` identifier."""
        document_id = _quill_identifier(resource, "DocumentReference", codes.QUILL_DOCUMENT_SYSTEM)
        return self._conditional_update("DocumentReference", codes.QUILL_DOCUMENT_SYSTEM, document_id, resource)

    def put_patient(self, resource: Mapping[str, Any]) -> FhirWriteResult:
        """Create or update the Patient identified by its ``urn:quill:patient`` identifier."""
        patient_id = _quill_identifier(resource, "Patient", codes.QUILL_PATIENT_SYSTEM)
        return self._conditional_update("Patient", codes.QUILL_PATIENT_SYSTEM, patient_id, resource)

    def create_patient(self, resource: Mapping[str, Any], *, system: str, value: str) -> FhirWriteResult:
        """Create the Patient unless one with ``system|value`` exists (``If-None-Exist``); either way, its id.

        Called with the NHS number, so a Patient another system already registered on the
        server is reused rather than duplicated (200 = found, 201 = created).
        """
        body = _for_conditional_update(resource)
        return self._send(
            "POST",
            "Patient",
            body,
            headers={"If-None-Exist": f"identifier={system}|{value}"},
            what="Patient",
        )

    def update(self, resource_type: str, resource_id: str, resource: Mapping[str, Any], *, version_id: str | None):
        """``PUT [base]/{type}/{id}`` with ``If-Match`` on the version Quill last saw.

        Raises ``FhirVersionConflict`` on 412 (someone else changed it: re-read and try again)
        and ``FhirResourceGone`` on 404/410 (it was deleted there).
        """
        body = dict(_for_conditional_update(resource), id=resource_id)
        headers = {"If-Match": f'W/"{version_id}"'} if version_id else {}
        return self._send("PUT", f"{resource_type}/{resource_id}", body, headers=headers, what=resource_type)

    def read_version(self, resource_type: str, resource_id: str) -> str | None:
        """The server's current version of a resource (for a retry after 412); raises FhirResourceGone."""
        response = self._request("GET", f"{resource_type}/{resource_id}", what=resource_type)
        if response.status_code in (404, 410):
            raise FhirResourceGone(f"{resource_type}/{resource_id} is gone from the FHIR server.", response.status_code)
        if response.status_code != 200:
            _write_result(response, resource_type)  # raises the retryable or rejected error
        body = _json_body(response) or {}
        return _parse_etag(response.headers.get("ETag")) or (body.get("meta") or {}).get("versionId")

    def delete(self, resource_type: str, resource_id: str) -> None:
        """``DELETE [base]/{type}/{id}``; gone already counts as done. ``FhirDeleteRefused`` on 405/409."""
        response = self._request("DELETE", f"{resource_type}/{resource_id}", what=resource_type)
        status = response.status_code
        if status in (200, 202, 204, 404, 410):
            return
        if status in (405, 409):
            raise FhirDeleteRefused(
                f"The FHIR server refuses to delete {resource_type}/{resource_id} ({status}).",
                status,
                _operation_outcome(response),
            )
        _write_result(response, resource_type)  # raises the retryable or rejected error

    def _conditional_update(
        self, resource_type: str, system: str, value: str, resource: Mapping[str, Any]
    ) -> FhirWriteResult:
        return self._send(
            "PUT",
            resource_type,
            _for_conditional_update(resource),
            params={"identifier": f"{system}|{value}"},
            what=resource_type,
        )

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> FhirWriteResult:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        response = self._request(
            method,
            path,
            what=what,
            data=data,
            params=params,
            headers={"Content-Type": codes.FHIR_JSON_MIME_TYPE, "Prefer": "return=representation", **(headers or {})},
        )
        if response.status_code == 412 and method == "PUT" and headers and "If-Match" in headers:
            raise FhirVersionConflict(f"The {what} changed on the FHIR server since Quill last wrote it.", 412)
        if response.status_code in (404, 410) and method == "PUT" and not params:
            raise FhirResourceGone(f"{path} is no longer on the FHIR server.", response.status_code)
        return _write_result(response, what)

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> requests.Response:
        if self.token_source is None:
            return self._send_once(method, path, what=what, **kwargs)
        token = self._access_token()
        response = self._send_once(method, path, what=what, token=token, **kwargs)
        if response.status_code != 401:
            return response
        self.token_source.invalidate(token)  # expired or revoked early: one more try with a fresh one
        response = self._send_once(method, path, what=what, token=self._access_token(), **kwargs)
        if response.status_code == 401:
            raise FhirRejectedError(
                "The FHIR server refused Quill's access token twice (401). Check the client id, its registered "
                "key and the scopes (QUILL_FHIR_OAUTH_*) with the FHIR server's administrator.",
                401,
                _operation_outcome(response),
            )
        return response

    def _access_token(self) -> str:
        assert self.token_source is not None
        try:
            return self.token_source.token()
        except OAuthUnavailable as exc:
            raise FhirRetryableError(str(exc)) from exc
        except OAuthRefused as exc:
            raise FhirConfigurationError(str(exc)) from exc

    def _send_once(
        self, method: str, path: str, *, what: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        if token is not None:
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}
        try:
            return self.session.request(
                method,
                f"{self.base_url}/{path}",
                timeout=self.timeout,
                allow_redirects=False,
                verify=self.verify,
                cert=self.cert,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            reason = describe_tls_error(exc, client_cert=self.cert is not None)
            raise FhirRetryableError(f"TLS with the FHIR server failed: {reason}") from exc
        except requests.Timeout as exc:
            raise FhirRetryableError(f"Timed out writing {what} to the FHIR server: {exc}") from exc
        except requests.ConnectionError as exc:
            raise FhirRetryableError(f"Could not connect to the FHIR server: {exc}") from exc


# --- Helpers ---------------------------------------------------------------------------------------


def _normalise_timeout(timeout: Timeout) -> tuple[float, float]:
    if isinstance(timeout, (int, float)):
        pair = (float(timeout), float(timeout))
    else:
        pair = (float(timeout[0]), float(timeout[1]))
    if pair[0] <= 0 or pair[1] <= 0:
        raise FhirConfigurationError("FHIR timeouts must be positive numbers of seconds.")
    return pair


def _configure_auth(
    session: requests.Session, auth: str, *, username: str | None, password: str | None, token: str | None
) -> None:
    if auth == "none":
        return
    if auth == "basic":
        if not username or password is None or password == "":
            raise FhirConfigurationError("Basic auth needs QUILL_FHIR_USERNAME and QUILL_FHIR_PASSWORD.")
        session.auth = (username, password)
        return
    if auth == "bearer":
        if not token:
            raise FhirConfigurationError("Bearer auth needs QUILL_FHIR_TOKEN.")
        session.headers["Authorization"] = f"Bearer {token}"
        return
    raise FhirConfigurationError(f"Unknown FHIR auth mode {auth!r}; expected none, basic, bearer or oauth2.")


def _quill_identifier(resource: Mapping[str, Any], resource_type: str, system: str) -> str:
    if resource.get("resourceType") != resource_type:
        raise FhirConfigurationError(f"Expected a {resource_type}, got {resource.get('resourceType')!r}.")
    candidates = list(resource.get("identifier") or [])
    if resource.get("masterIdentifier"):
        candidates.insert(0, resource["masterIdentifier"])
    for identifier in candidates:
        if identifier.get("system") == system and identifier.get("value"):
            return str(identifier["value"])
    raise FhirConfigurationError(f"The {resource_type} carries no {system} identifier to update on.")


def _for_conditional_update(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The body to PUT: the server owns the logical id and the version metadata."""
    body = {key: value for key, value in resource.items() if key != "id"}
    meta = {key: value for key, value in (body.get("meta") or {}).items() if key not in ("versionId", "lastUpdated")}
    if meta:
        body["meta"] = meta
    else:
        body.pop("meta", None)
    return body


def _write_result(response: requests.Response, resource_type: str) -> FhirWriteResult:
    status = response.status_code
    if status in (200, 201):
        return _success(response, resource_type)
    if status in _RETRYABLE_STATUSES or status >= 500:
        raise FhirRetryableError(
            f"The FHIR server answered {status} to the {resource_type} write.",
            parse_retry_after(response.headers.get("Retry-After")),
            status=status,
        )
    outcome = _operation_outcome(response)
    detail = _outcome_text(outcome)
    raise FhirRejectedError(
        f"The FHIR server rejected the {resource_type} ({status}){': ' + detail if detail else ''}.",
        status,
        outcome,
    )


def _success(response: requests.Response, resource_type: str) -> FhirWriteResult:
    body = _json_body(response)
    location = _parse_location(response.headers.get("Content-Location") or response.headers.get("Location"))
    resource_id = (body or {}).get("id") or (location[0] if location else None)
    version_id = (
        _parse_etag(response.headers.get("ETag"))
        or (location[1] if location else None)
        or ((body or {}).get("meta") or {}).get("versionId")
    )
    if not resource_id:
        raise FhirRejectedError(
            f"The FHIR server accepted the {resource_type} but said neither its id nor its location.",
            response.status_code,
        )
    return FhirWriteResult(
        id=str(resource_id), version_id=str(version_id) if version_id else None, created=response.status_code == 201
    )


def _json_body(response: requests.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _operation_outcome(response: requests.Response) -> dict[str, Any] | None:
    body = _json_body(response)
    if body and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def _outcome_text(outcome: Mapping[str, Any] | None) -> str:
    if not outcome:
        return ""
    parts = [
        issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        for issue in outcome.get("issue") or []
    ]
    return "; ".join(part for part in parts if part)


def _parse_location(location: str | None) -> tuple[str, str | None] | None:
    if not location:
        return None
    match = _HISTORY_RE.search(location.split("?", 1)[0])
    if not match:
        return None
    return match["id"], match["vid"]


def _parse_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    match = _ETAG_RE.match(etag.strip())
    if match is None:
        return None
    return match["vid"] or None
