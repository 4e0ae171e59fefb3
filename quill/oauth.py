"""OAuth2 access tokens for Quill's outbound integrations (SMART Backend Services).

The FHIR and EHRbase clients authenticate with the `client_credentials` grant, the client
proving who it is either with a signed JWT assertion (`private_key_jwt`, RS384 or ES384,
as SMART Backend Services asks: `iss` = `sub` = client id, `aud` = the token endpoint, `exp`
five minutes ahead, a fresh `jti`) or with HTTP basic auth (`client_secret_basic`), both
through Authlib.

One token serves every worker: it is kept in Django's cache (Redis in production) until
shortly before it expires. When none is cached, one process takes a short lock in the
cache (`add`, atomic in Redis) and fetches it; the others wait for it to appear instead of
all asking the token endpoint at once. A client that gets 401 with a token calls
`invalidate(token)` and asks once more; a second 401 is the server's final word.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from django.core.cache import cache
from joserfc.jwk import ECKey, RSAKey

from quill.errors import OAuthRefused, OAuthUnavailable

__all__ = ["OAuthConfig", "OAuthRefused", "OAuthUnavailable", "TokenSource", "oauth_config", "token_source"]

logger = logging.getLogger(__name__)

Method = Literal["private_key_jwt", "client_secret_basic"]
ALGORITHMS = ("RS384", "ES384")
# SMART Backend Services: the assertion's exp is at most five minutes ahead.
ASSERTION_LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class OAuthConfig:
    """Where and how one integration gets its tokens (built from the QUILL_<SERVICE>_OAUTH_* settings)."""

    name: str
    token_url: str
    client_id: str
    scopes: str
    method: Method
    client_secret: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    algorithm: str = "RS384"
    key_id: str = ""
    refresh_margin_seconds: float = 60.0
    timeout: float = 10.0
    verify: bool | str = True
    cert: tuple[str, str] | None = None

    def problems(self) -> list[str]:
        """What is missing or wrong, in the settings' own names."""
        prefix = f"QUILL_{self.name.upper()}_OAUTH"
        found = []
        if not self.token_url.startswith(("https://", "http://")):
            found.append(f"{prefix}_TOKEN_URL must be the token endpoint's absolute URL")
        if not self.client_id:
            found.append(f"{prefix}_CLIENT_ID must be set")
        if self.method == "private_key_jwt":
            if not self.private_key:
                found.append(f"{prefix}_PRIVATE_KEY_FILE must name the PEM private key registered for the client")
            if self.algorithm not in ALGORITHMS:
                found.append(f"{prefix}_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        elif self.method == "client_secret_basic":
            if not self.client_secret:
                found.append(f"{prefix}_CLIENT_SECRET (or _FILE) must be set")
        else:
            found.append(f"{prefix}_METHOD must be private_key_jwt or client_secret_basic")
        return found


class _SmartPrivateKeyJWT(PrivateKeyJWT):
    """private_key_jwt with SMART's header (kid, typ) and a five-minute assertion, signed fresh each time."""

    def __init__(self, token_endpoint: str, *, alg: str, key_id: str) -> None:
        super().__init__(token_endpoint, alg=alg)
        self.key_id = key_id

    def sign(self, auth: Any, token_endpoint: str) -> str:
        header = {"typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            claims={"jti": uuid.uuid4().hex},
            header=header,
            expires_in=ASSERTION_LIFETIME_SECONDS,
        )


class TokenSource:
    """Access tokens for one integration, shared through the cache by every process."""

    def __init__(self, config: OAuthConfig) -> None:
        problems = config.problems()
        if problems:
            raise OAuthRefused("; ".join(problems) + ".")
        self.config = config
        identity = f"{config.token_url}|{config.client_id}|{config.scopes}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self._cache_key = f"quill:oauth:{config.name}:{digest}"
        self._lock_key = f"{self._cache_key}:lock"
        self._key = _private_key(config) if config.method == "private_key_jwt" else None
        self._local = threading.Lock()

    def token(self) -> str:
        """A valid access token: the cached one, or a new one fetched by exactly one process."""
        cached = cache.get(self._cache_key)
        if cached:
            return cached
        with self._local:  # threads of this process queue here; processes queue on the cache lock
            deadline = time.monotonic() + self.config.timeout + 5
            while True:
                cached = cache.get(self._cache_key)
                if cached:
                    return cached
                owner = uuid.uuid4().hex
                if cache.add(self._lock_key, owner, timeout=int(self.config.timeout) + 5):
                    try:
                        # Another worker may have cached a token and let go of the lock between our
                        # look at the cache and our taking the lock: look again before fetching.
                        return cache.get(self._cache_key) or self._fetch_and_cache()
                    finally:
                        if cache.get(self._lock_key) == owner:
                            cache.delete(self._lock_key)
                if time.monotonic() > deadline:
                    raise OAuthUnavailable(
                        f"Timed out waiting for another worker to fetch the {self.config.name} token."
                    )
                time.sleep(0.05)

    def invalidate(self, token: str) -> None:
        """Forget `token` (the server answered 401 to it), unless another worker already replaced it."""
        if cache.get(self._cache_key) == token:
            cache.delete(self._cache_key)

    def _fetch_and_cache(self) -> str:
        answer = self._fetch()
        access_token = answer.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise OAuthRefused(f"The {self.config.name} token endpoint answered without an access_token.")
        try:
            lifetime = float(answer.get("expires_in") or 300)
        except (TypeError, ValueError):
            lifetime = 300.0
        # Keep it until shortly before it expires; a token shorter-lived than twice the margin, half its life.
        margin = self.config.refresh_margin_seconds
        keep = lifetime - margin if lifetime > 2 * margin else lifetime / 2
        if keep >= 1:
            cache.set(self._cache_key, access_token, timeout=int(keep))
        return access_token

    def _fetch(self) -> dict[str, Any]:
        config = self.config
        secret: Any = self._key if config.method == "private_key_jwt" else config.client_secret
        session = OAuth2Session(
            config.client_id, secret, token_endpoint_auth_method=config.method, scope=config.scopes or None
        )
        if config.method == "private_key_jwt":
            session.register_client_auth_method(
                _SmartPrivateKeyJWT(config.token_url, alg=config.algorithm, key_id=config.key_id)
            )
        try:
            with session:
                response = session.post(
                    config.token_url,
                    data={"grant_type": "client_credentials", **({"scope": config.scopes} if config.scopes else {})},
                    auth=session.client_auth(config.method),
                    headers={"Accept": "application/json"},
                    timeout=config.timeout,
                    withhold_token=True,
                    verify=config.verify,  # per request: a session's would lose to REQUESTS_CA_BUNDLE
                    cert=config.cert,
                )
        except requests.RequestException as exc:
            raise OAuthUnavailable(f"Could not reach the {config.name} token endpoint: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise OAuthUnavailable(f"The {config.name} token endpoint answered {response.status_code}.")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise OAuthRefused(
                f"The {config.name} token endpoint refused Quill's client {config.client_id!r} "
                f"({response.status_code}{' ' + error if error else ''}{': ' + description if description else ''})."
            )
        logger.info("Fetched a %s access token (expires in %s s).", config.name, body.get("expires_in"))
        return body


def _private_key(config: OAuthConfig) -> RSAKey | ECKey:
    try:
        if config.algorithm == "ES384":
            key: RSAKey | ECKey = ECKey.import_key(config.private_key)
        else:
            key = RSAKey.import_key(config.private_key)
    except Exception as exc:  # joserfc raises several kinds for a key it cannot read
        raise OAuthRefused(
            f"QUILL_{config.name.upper()}_OAUTH_PRIVATE_KEY is not a PEM {config.algorithm[:2]} private key "
            f"({type(exc).__name__})."
        ) from exc
    if not key.is_private:
        raise OAuthRefused(
            f"QUILL_{config.name.upper()}_OAUTH_PRIVATE_KEY is a public key; Quill signs with the private key."
        )
    return key


def oauth_config(service: Literal["fhir", "ehrbase"]) -> OAuthConfig:
    """The OAuth2 configuration of one integration, from its QUILL_<SERVICE>_OAUTH_* settings.

    The token endpoint is reached with the service's own TLS settings (CA bundle, client certificate).
    """
    from django.conf import settings

    from quill.tls import service_tls

    prefix = f"QUILL_{service.upper()}_"

    def setting(name: str) -> Any:
        return getattr(settings, prefix + name)

    tls = service_tls(service)
    return OAuthConfig(
        name=service,
        token_url=setting("OAUTH_TOKEN_URL"),
        client_id=setting("OAUTH_CLIENT_ID"),
        scopes=setting("OAUTH_SCOPES"),
        method=setting("OAUTH_METHOD"),
        client_secret=setting("OAUTH_CLIENT_SECRET"),
        private_key=setting("OAUTH_PRIVATE_KEY"),
        algorithm=setting("OAUTH_ALGORITHM"),
        key_id=setting("OAUTH_KEY_ID"),
        refresh_margin_seconds=settings.QUILL_OAUTH_REFRESH_MARGIN_SECONDS,
        timeout=min(float(setting("TIMEOUT_SECONDS")), 30.0),
        verify=tls.verify,
        cert=tls.cert,
    )


_sources: dict[OAuthConfig, TokenSource] = {}
_sources_lock = threading.Lock()


def token_source(config: OAuthConfig) -> TokenSource:
    """One TokenSource per configuration and process (its threads share the local lock)."""
    with _sources_lock:
        source = _sources.get(config)
        if source is None:
            source = _sources[config] = TokenSource(config)
        return source
