"""An OAuth2 token endpoint for the in-test FHIR and EHRbase servers (SMART Backend Services).

Written from RFC 6749, RFC 7523 and the SMART App Launch "Backend Services" page, with
joserfc for the signature, and independent of quill/oauth.py. It accepts the
`client_credentials` grant authenticated either with a JWT assertion
(`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`) signed
by the registered public key, or with `client_secret_basic`; it checks the signature and
algorithm, `iss` = `sub` = client id, `aud` = this endpoint, `exp` present, in the future
and at most five minutes ahead, and `jti` never seen before (replay). Access tokens it
issues are random, live `token_lifetime` seconds, and are the only thing its API accepts.
"""

from __future__ import annotations

import base64
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/auth/token"
_ALGORITHMS = ["RS384", "ES384"]
_SKEW = 30


@dataclass
class TokenIssuer:
    """One registered client; `token_url` is set by the server that hosts the endpoint."""

    client_id: str
    public_key: RSAKey | ECKey | None = None
    client_secret: str | None = None
    allowed_scopes: frozenset[str] = frozenset()
    token_lifetime: int = 300
    token_url: str = ""
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)
    _seen_jti: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the API side asks --

    def authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            expires = self._tokens.get(header.removeprefix("Bearer ").strip())
        return expires is not None and expires > time.time()

    def revoke_all(self) -> None:
        """Every issued token stops working (as after a key rotation on the server)."""
        with self._lock:
            self._tokens.clear()

    # -- the token endpoint --

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for a POST to the token endpoint."""
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        with self._lock:
            self.token_requests.append(form)
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return self._refuse(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        if form.get("grant_type") != "client_credentials":
            return self._refuse(400, "unsupported_grant_type", "only client_credentials")
        problem = self._authenticate(headers.get("Authorization"), form)
        if problem:
            return self._refuse(401, "invalid_client", problem)
        requested = set((form.get("scope") or "").split())
        if not requested or not requested <= self.allowed_scopes:
            return self._refuse(400, "invalid_scope", f"not granted: {sorted(requested - self.allowed_scopes)}")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": " ".join(sorted(requested)),
        }

    def _refuse(self, status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refusals.append(f"{error}: {description}")
        return status, {"error": error, "error_description": description}

    def _authenticate(self, authorization: str | None, form: dict[str, str]) -> str | None:
        """None when the client proved who it is, else why not."""
        if authorization and authorization.startswith("Basic "):
            if self.client_secret is None:
                return "this client authenticates with a signed assertion"
            try:
                user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                return "malformed basic credentials"
            if user != self.client_id or not secrets.compare_digest(password, self.client_secret):
                return "wrong client id or secret"
            return None
        if self.public_key is None:
            return "this client authenticates with client_secret_basic"
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return "missing client_assertion"
        try:
            token = jwt.decode(form["client_assertion"], self.public_key, algorithms=_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            return f"assertion signature or format: {type(exc).__name__}"
        claims, now = token.claims, time.time()
        if token.header.get("typ") not in (None, "JWT"):
            return "typ must be JWT"
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "iss and sub must be the client id"
        audience = claims.get("aud")
        if audience != self.token_url and not (isinstance(audience, list) and self.token_url in audience):
            return f"aud must be {self.token_url}"
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires < now - _SKEW:
            return "exp missing or in the past"
        if expires > now + 300 + _SKEW:
            return "exp more than five minutes ahead"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return "jti missing"
        with self._lock:
            if jti in self._seen_jti:
                return "jti replayed"
            self._seen_jti.add(jti)
        return None


def serve_tls(httpd: ThreadingHTTPServer, context: ssl.SSLContext) -> None:
    """Make an in-test HTTP server speak TLS; the handshake runs in the request's thread, not the accept loop."""
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]  # refused handshakes
