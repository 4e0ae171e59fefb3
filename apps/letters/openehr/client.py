"""A small EHRbase (openEHR REST v1) client for the letter push.

Every call has an explicit timeout. Failures are split in two: ``EhrRetryableError``
(connection errors, timeouts, 408, 429, 5xx — try again later, honouring
``retry_after``) and ``EhrRejectedError`` (any other 4xx — retrying the same
request will not help).

Authentication is HTTP basic (a user name and password) or OAuth2 client credentials
(SMART Backend Services, quill/oauth.py): with OAuth2, a 401 drops the shared token and the
request is tried once more with a fresh one; a second 401 is a rejection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import requests

from apps.letters.errors import EhrRejectedError, EhrRetryableError
from quill.http import parse_retry_after
from quill.oauth import OAuthRefused, OAuthUnavailable, TokenSource
from quill.tls import describe_tls_error

from .flat import ROOT

_RETRYABLE_STATUSES = frozenset({408, 425, 429})
_VERSION_UID = re.compile(r"^(?P<uuid>[0-9a-fA-F-]{36})::(?P<system>[^:]+)::(?P<version>\d+)$")
_BODY_EXCERPT = 2000

# The one query the push needs: the latest composition of this template in this
# EHR whose Report ID (report.v1 other_context at0002) is the Quill letter id.
REPORT_ID_AQL = (
    "SELECT c/uid/value AS uid "
    "FROM EHR e CONTAINS COMPOSITION c[openEHR-EHR-COMPOSITION.report.v1] "
    "WHERE e/ehr_id/value = $ehr_id "
    "AND c/archetype_details/template_id/value = $template_id "
    "AND c/context/other_context[at0001]/items[at0002]/value/value = $report_id"
)


@dataclass(frozen=True)
class CompositionResult:
    """A stored composition version: ``{versioned_object_uid}::{system_id}::{version}``."""

    uid: str

    @property
    def versioned_object_uid(self) -> str:
        return self.uid.split("::", 1)[0]

    @property
    def version(self) -> int:
        match = _VERSION_UID.match(self.uid)
        return int(match["version"]) if match else 0


class EhrbaseClient:
    """EHRbase REST client; ``base_url`` ends in ``/ehrbase/rest/openehr/v1``."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        timeout: float,
        session: requests.Session | None = None,
        token_source: TokenSource | None = None,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        # Passed with every request: a session's own would lose to REQUESTS_CA_BUNDLE in the environment.
        self.verify, self.cert = verify, cert
        self.token_source = token_source
        if username and token_source is None:
            self.session.auth = (username, password)

    # --- templates ----------------------------------------------------------

    def upload_template(self, opt_xml: bytes | str) -> Literal["created", "exists"]:
        """Upload an ADL 1.4 OPT; a 409 means the server already has it."""
        body = opt_xml.encode("utf-8") if isinstance(opt_xml, str) else opt_xml
        response = self._request(
            "POST",
            "/definition/template/adl1.4",
            data=body,
            headers={"Content-Type": "application/xml", "Accept": "application/xml"},
            allow={409},
        )
        return "exists" if response.status_code == 409 else "created"

    # --- EHRs ---------------------------------------------------------------

    def find_ehr(self, subject_id: str, namespace: str) -> str | None:
        """The ehr_id of the subject's EHR, or None if there is none."""
        response = self._request(
            "GET",
            "/ehr",
            params={"subject_id": subject_id, "subject_namespace": namespace},
            headers={"Accept": "application/json"},
            allow={404},
        )
        if response.status_code == 404:
            return None
        return _ehr_id(response)

    def create_ehr(self, subject_id: str, namespace: str) -> str:
        """Create the subject's EHR; if it already exists (409) return that one."""
        response = self._request(
            "POST",
            "/ehr",
            data=json.dumps(ehr_status_body(subject_id, namespace)),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Prefer": "return=representation",
            },
            allow={409},
        )
        if response.status_code == 409:
            existing = self.find_ehr(subject_id, namespace)
            if existing is None:
                raise EhrRetryableError("The EHR was reported as existing but could not be found yet.")
            return existing
        return _ehr_id(response)

    def get_or_create_ehr(self, subject_id: str, namespace: str) -> str:
        return self.find_ehr(subject_id, namespace) or self.create_ehr(subject_id, namespace)

    # --- compositions -------------------------------------------------------

    def post_composition(self, ehr_id: str, flat: dict[str, str], template_id: str) -> CompositionResult:
        """Create a composition from FLAT data; returns the new version uid."""
        response = self._request(
            "POST",
            f"/ehr/{_seg(ehr_id)}/composition",
            params={"templateId": template_id, "format": "FLAT"},
            data=json.dumps(flat),
            headers=_composition_headers(),
        )
        return CompositionResult(_composition_uid(response))

    def put_composition(
        self,
        ehr_id: str,
        versioned_object_uid: str,
        preceding_version_uid: str,
        flat: dict[str, str],
        template_id: str,
    ) -> CompositionResult:
        """Store a new version; the server answers 412 if ``preceding_version_uid`` is not the latest."""
        headers = _composition_headers()
        headers["If-Match"] = f'"{preceding_version_uid}"'
        response = self._request(
            "PUT",
            f"/ehr/{_seg(ehr_id)}/composition/{_seg(versioned_object_uid)}",
            params={"templateId": template_id, "format": "FLAT"},
            data=json.dumps(flat),
            headers=headers,
        )
        return CompositionResult(_composition_uid(response))

    def get_composition(self, ehr_id: str, uid: str) -> dict[str, Any] | None:
        """A composition (version uid, or versioned object uid for the latest) in FLAT format."""
        response = self._request(
            "GET",
            f"/ehr/{_seg(ehr_id)}/composition/{_seg(uid)}",
            params={"format": "FLAT"},
            headers={"Accept": "application/json"},
            allow={404, 204},
        )
        if response.status_code in (404, 204):
            return None
        return _json(response)

    def find_composition_by_report_id(self, ehr_id: str, report_id: str, template_id: str) -> CompositionResult | None:
        """The stored composition carrying this Quill letter id, if any (AQL query)."""
        response = self._request(
            "POST",
            "/query/aql",
            data=json.dumps(
                {
                    "q": REPORT_ID_AQL,
                    "query_parameters": {"ehr_id": ehr_id, "template_id": template_id, "report_id": report_id},
                }
            ),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        rows = _json(response).get("rows") or []
        uids = sorted((row[0] for row in rows if row and row[0]), key=lambda u: CompositionResult(u).version)
        return CompositionResult(uids[-1]) if uids else None

    # --- transport ----------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        allow: frozenset[int] | set[int] = frozenset(),
    ) -> requests.Response:
        response = self._authorised_request(method, path, params=params, data=data, headers=headers)
        status = response.status_code
        if status < 400 or status in allow:
            return response
        if status >= 500 or status in _RETRYABLE_STATUSES:
            raise EhrRetryableError(
                f"{method} {path} answered {status}.",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status == 401 and self.token_source is not None:
            raise EhrRejectedError(
                f"{method} {path}: EHRbase refused Quill's access token twice (401). Check the client id, its "
                "registered key and the scopes (QUILL_EHRBASE_OAUTH_*).",
                status,
                response.text[:_BODY_EXCERPT],
            )
        raise EhrRejectedError(f"{method} {path} was rejected with {status}.", status, response.text[:_BODY_EXCERPT])

    def _authorised_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.token_source is None:
            return self._send_once(method, path, **kwargs)
        token = self._access_token(method, path)
        response = self._send_once(method, path, token=token, **kwargs)
        if response.status_code != 401:
            return response
        self.token_source.invalidate(token)  # expired or revoked early: one more try with a fresh one
        return self._send_once(method, path, token=self._access_token(method, path), **kwargs)

    def _access_token(self, method: str, path: str) -> str:
        assert self.token_source is not None
        try:
            return self.token_source.token()
        except OAuthUnavailable as exc:
            raise EhrRetryableError(f"{method} {path}: {exc}") from exc
        except OAuthRefused as exc:
            raise EhrRejectedError(f"{method} {path}: {exc}", 401, "") from exc

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, str] | None = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        url = self.base_url + path
        if token is not None:
            headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        try:
            return self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=self.timeout,
                verify=self.verify,
                cert=self.cert,
            )
        except requests.exceptions.SSLError as exc:
            reason = describe_tls_error(exc, client_cert=self.cert is not None)
            raise EhrRetryableError(f"{method} {path}: TLS with EHRbase failed: {reason}.") from exc
        except requests.Timeout as exc:
            raise EhrRetryableError(f"{method} {path} timed out after {self.timeout}s.") from exc
        except requests.ConnectionError as exc:
            raise EhrRetryableError(f"{method} {path} could not connect: {exc.__class__.__name__}.") from exc
        except requests.RequestException as exc:
            raise EhrRetryableError(f"{method} {path} failed: {exc.__class__.__name__}.") from exc


def ehr_status_body(subject_id: str, namespace: str) -> dict[str, Any]:
    """The EHR_STATUS sent with ``POST /ehr``: the subject's external reference."""
    return {
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"value": "EHR Status"},
        "subject": {
            "external_ref": {
                "id": {"_type": "GENERIC_ID", "value": subject_id, "scheme": "id_scheme"},
                "namespace": namespace,
                "type": "PERSON",
            }
        },
        "is_queryable": True,
        "is_modifiable": True,
    }


def _seg(value: str) -> str:
    return quote(value, safe=":")


def _composition_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json", "Prefer": "return=representation"}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise _rejected("The openEHR server sent a body that is not JSON.", response) from exc
    if not isinstance(body, dict):
        raise _rejected("The openEHR server sent an unexpected JSON body.", response)
    return body


def _rejected(message: str, response: requests.Response) -> EhrRejectedError:
    return EhrRejectedError(message, response.status_code, response.text[:_BODY_EXCERPT])


def _ehr_id(response: requests.Response) -> str:
    body = _json(response)
    ehr_id = (body.get("ehr_id") or {}).get("value") if isinstance(body.get("ehr_id"), dict) else body.get("ehr_id")
    if not ehr_id:
        raise _rejected("The openEHR server's EHR has no ehr_id.", response)
    return str(ehr_id)


def _composition_uid(response: requests.Response) -> str:
    """The version uid from the ETag, else the Location, else the FLAT body."""
    etag = response.headers.get("ETag", "").removeprefix("W/").strip('"')
    if _VERSION_UID.match(etag):
        return etag
    location = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
    if _VERSION_UID.match(location):
        return location
    if response.content:
        body = _json(response)
        for key in (f"{ROOT}/_uid", "uid"):
            value = body.get(key)
            value = value.get("value") if isinstance(value, dict) else value
            if isinstance(value, str) and _VERSION_UID.match(value):
                return value
    raise _rejected("The openEHR server stored the composition but did not say its uid.", response)
