"""Service checks shared by /readyz and `manage.py check_services`.

Each check is one small function returning a CheckResult; a check that is not
configured (e.g. no FHIR server) is skipped, not failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from quill import secrets
from quill.tls import TlsFailure, describe_tls_error, looks_like_tls_failure, service_tls


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 4)}


def check_database() -> str:
    from django.db import OperationalError

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except OperationalError as exc:
        if looks_like_tls_failure(exc):
            client_cert = bool((connection.settings_dict.get("OPTIONS") or {}).get("sslcert"))
            raise TlsFailure(describe_tls_error(exc, client_cert=client_cert)) from exc
        raise
    tls = (connection.settings_dict.get("OPTIONS") or {}).get("sslmode", "")
    return f"{connection.vendor}{f' (sslmode={tls})' if tls else ''}"


def check_redis() -> str | None:
    """PING every Redis Quill uses (cache/throttling and the Celery broker); skipped when none is configured."""
    import redis
    from django.conf import settings

    urls = [settings.QUILL_REDIS_URL, settings.CELERY_BROKER_URL]
    urls = list(dict.fromkeys(url for url in urls if url and url.startswith(("redis://", "rediss://", "unix://"))))
    if not urls:
        return None
    for url in urls:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    return f"{len(urls)} server(s) answer PING"


def _get(url: str, *, service: str, accept: str, auth=None, headers: dict | None = None, timeout: float = 5.0):
    """GET with the service's TLS settings and, with OAuth2, its access token (one refresh on 401)."""
    import requests

    from quill.oauth import oauth_config, token_source

    tls = service_tls(service)
    tokens = token_source(oauth_config(service)) if _uses_oauth(service) else None  # type: ignore[arg-type]
    for attempt in (1, 2):
        token = tokens.token() if tokens else None
        bearer = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = requests.get(
                url,
                headers={"Accept": accept, **(headers or {}), **bearer},
                auth=None if tokens else auth,
                timeout=timeout,
                verify=tls.verify,
                cert=tls.cert,
            )
        except requests.exceptions.SSLError as exc:
            raise TlsFailure(describe_tls_error(exc, client_cert=tls.cert is not None)) from exc
        if response.status_code == 401 and tokens and token and attempt == 1:
            tokens.invalidate(token)
            continue
        break
    if response.status_code != 200:
        raise ConnectionError(f"GET {url} answered {response.status_code}")
    return response


def _uses_oauth(service: str) -> bool:
    from django.conf import settings

    return getattr(settings, f"QUILL_{service.upper()}_AUTH") == "oauth2"


def check_fhir() -> str | None:
    """GET [base]/metadata on the configured FHIR server (a CapabilityStatement)."""
    from django.conf import settings

    if not settings.QUILL_FHIR_BASE_URL:
        return None
    auth, headers = None, {}
    if settings.QUILL_FHIR_AUTH == "basic":
        auth = (settings.QUILL_FHIR_USERNAME, settings.QUILL_FHIR_PASSWORD)
    elif settings.QUILL_FHIR_AUTH == "bearer":
        headers["Authorization"] = f"Bearer {settings.QUILL_FHIR_TOKEN}"
    response = _get(
        f"{settings.QUILL_FHIR_BASE_URL}/metadata",
        service="fhir",
        accept="application/fhir+json",
        auth=auth,
        headers=headers,
        timeout=min(settings.QUILL_FHIR_TIMEOUT_SECONDS, 5.0),
    )
    body = response.json()
    if body.get("resourceType") != "CapabilityStatement":
        raise ConnectionError("the FHIR server's metadata is not a CapabilityStatement")
    return f"FHIR {body.get('fhirVersion', '?')}"


def check_ehrbase() -> str | None:
    """GET /definition/template/adl1.4 on EHRbase (lists the uploaded templates)."""
    from django.conf import settings

    if not settings.QUILL_EHRBASE_URL:
        return None
    auth = None
    if settings.QUILL_EHRBASE_USERNAME:
        auth = (settings.QUILL_EHRBASE_USERNAME, settings.QUILL_EHRBASE_PASSWORD)
    response = _get(
        f"{settings.QUILL_EHRBASE_URL}/definition/template/adl1.4",
        service="ehrbase",
        accept="application/json",
        auth=auth,
        timeout=min(settings.QUILL_EHRBASE_TIMEOUT_SECONDS, 5.0),
    )
    templates = response.json()
    count = len(templates) if isinstance(templates, list) else 0
    return f"{count} template(s)"


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "redis": check_redis,
    "fhir": check_fhir,
    "ehrbase": check_ehrbase,
}

# Checks whose failure check_services reports (exit 1) but that do not make /readyz answer 503:
# FHIR and EHRbase pushes go through the outbox and wait for them, so Quill still serves clinics.
OPTIONAL: set[str] = {"fhir", "ehrbase"}


def register(name: str, check: Callable[[], str | None], *, optional: bool = False) -> None:
    """Add a check (apps register theirs in AppConfig.ready). Returning None means skipped."""
    CHECKS[name] = check
    if optional:
        OPTIONAL.add(name)
    else:
        OPTIONAL.discard(name)


def ready(results: list[CheckResult]) -> bool:
    """Whether Quill can serve: every check passed except the optional ones."""
    return all(result.ok for result in results if result.name not in OPTIONAL)


def run_checks(names: list[str] | None = None) -> list[CheckResult]:
    results = []
    for name, check in CHECKS.items():
        if names and name not in names:
            continue
        started = time.monotonic()
        try:
            detail = check()
            if detail is None:
                continue
            results.append(CheckResult(name, True, secrets.redact(detail), time.monotonic() - started))
        except Exception as exc:  # a probe reports every failure, whatever its kind
            if isinstance(exc, TlsFailure):
                detail = secrets.redact(f"TLS handshake failed: {exc}")
            elif looks_like_tls_failure(exc):
                detail = secrets.redact(f"TLS handshake failed: {describe_tls_error(exc)}")
            else:
                detail = secrets.redact(f"{type(exc).__name__}: {exc}")
            results.append(CheckResult(name, False, detail, time.monotonic() - started))
    return results
