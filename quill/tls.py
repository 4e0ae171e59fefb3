"""Verified TLS, and mutual TLS, for the connections Quill makes.

Each service (PostgreSQL, S3, FHIR, EHRbase, IMAP) has a CA bundle setting (the CA that
signed the server's certificate; empty means the system's CAs) and an optional client
certificate and key, for servers that ask for one. `describe_tls_error` turns OpenSSL's
reasons into a sentence an operator can act on, for `check_services` and the outbox.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from quill.errors import TlsFailure

__all__ = ["TlsFailure", "TlsFiles", "describe_tls_error", "looks_like_tls_failure", "service_tls"]


@dataclass(frozen=True)
class TlsFiles:
    """The CA bundle and the client certificate and key for one service; empty strings when unset."""

    ca_bundle: str = ""
    client_cert: str = ""
    client_key: str = ""

    @property
    def verify(self) -> bool | str:
        """What `requests` takes as `verify`: the bundle, or True for the system's CAs."""
        return self.ca_bundle or True

    @property
    def cert(self) -> tuple[str, str] | None:
        """What `requests` takes as `cert`, or None without a client certificate."""
        return service_tls_files(self.client_cert, self.client_key)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server (and its host name) and presents the client certificate."""
        context = ssl.create_default_context(cafile=self.ca_bundle or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key or None)
        return context


def service_tls(service: str) -> TlsFiles:
    """The TLS files of one service from its QUILL_<SERVICE>_CA_BUNDLE, _CLIENT_CERT and _CLIENT_KEY settings."""
    from django.conf import settings

    prefix = f"QUILL_{service.upper()}_"
    return TlsFiles(
        ca_bundle=getattr(settings, prefix + "CA_BUNDLE", ""),
        client_cert=getattr(settings, prefix + "CLIENT_CERT", ""),
        client_key=getattr(settings, prefix + "CLIENT_KEY", ""),
    )


def is_private_host(host: str) -> bool:
    """Whether `host` is an address on a private network or loopback (a name is never assumed private)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def service_tls_files(client_cert: str, client_key: str) -> tuple[str, str] | None:
    """(certificate, key) for botocore's and requests' `cert`, or None without a client certificate."""
    return (client_cert, client_key or client_cert) if client_cert else None


def postgres_tls_options(*, sslmode: str, sslrootcert: str, sslcert: str, sslkey: str) -> dict[str, str]:
    """libpq's TLS parameters for DATABASES["default"]["OPTIONS"]; only those set."""
    options = {"sslmode": sslmode, "sslrootcert": sslrootcert, "sslcert": sslcert, "sslkey": sslkey}
    return {name: value for name, value in options.items() if value}


def plaintext_problems(*, allowed: list[str], database: Mapping[str, Any] | None, urls: Mapping[str, str]) -> list[str]:
    """Why production would talk to a service without verified TLS, one sentence per service.

    PostgreSQL must use sslmode=verify-full; every URL must be https. A host named in
    QUILL_TLS_PLAINTEXT_HOSTS is exempt, and that list may name only private-network hosts.
    """
    problems = []
    for host in allowed:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue  # a name (a compose service, an internal DNS name): the operator vouches for it
        if not (address.is_private or address.is_loopback):
            problems.append(f"QUILL_TLS_PLAINTEXT_HOSTS names {host}, which is not on a private network")
    if database is not None and database.get("ENGINE") == "django.db.backends.postgresql":
        host = str(database.get("HOST") or "")
        mode = (database.get("OPTIONS") or {}).get("sslmode", "")
        if mode != "verify-full" and host not in allowed and not host.startswith("/"):
            problems.append(
                f"the database connection to {host or 'localhost'} must use verified TLS: set "
                f"QUILL_DB_SSLMODE=verify-full and QUILL_DB_SSLROOTCERT (it is {mode or 'unset'}), "
                "or list the host in QUILL_TLS_PLAINTEXT_HOSTS if it is on a private network"
            )
    for setting, url in urls.items():
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in allowed:
            problems.append(
                f"{setting} must be an https:// URL (verified TLS), or its host {parts.hostname} listed in "
                "QUILL_TLS_PLAINTEXT_HOSTS if it is on a private network"
            )
    return problems


_UNTRUSTED = "the server's certificate is not signed by a CA in the configured CA bundle"
_NO_CLIENT_CERT = (
    "the server requires a client certificate and Quill sent none (set the CLIENT_CERT and CLIENT_KEY settings)"
)
_REASONS = (
    ("certificate has expired", "the server's certificate has expired (or is not yet valid)"),
    ("certificate is not yet valid", "the server's certificate is not yet valid"),
    ("self-signed certificate", "the server's certificate is not signed by a CA in the configured CA bundle"),
    (
        "unable to get local issuer certificate",
        "the server's certificate is not signed by a CA in the configured CA bundle",
    ),
    ("Hostname mismatch", "the server's certificate does not name the host Quill connected to"),
    ("IP address mismatch", "the server's certificate does not name the address Quill connected to"),
    (
        "CERTIFICATE_REQUIRED",
        "the server requires a client certificate and Quill sent none (set the CLIENT_CERT and CLIENT_KEY settings)",
    ),
    (
        "certificate required",
        "the server requires a client certificate and Quill sent none (set the CLIENT_CERT and CLIENT_KEY settings)",
    ),
    ("UNKNOWN_CA", "the server does not trust Quill's client certificate (unknown CA)"),
    ("BAD_CERTIFICATE", "the server refused Quill's client certificate"),
    ("CERTIFICATE_EXPIRED", "the server refused Quill's client certificate as expired"),
    ("WRONG_VERSION_NUMBER", "the server does not speak TLS on this port"),
    ("CERTIFICATE_VERIFY_FAILED", "the server's certificate could not be verified"),
    (
        "certificate verify failed",  # libpq says no more than this
        "the server's certificate could not be verified: not signed by the configured CA, expired, "
        "or not naming the host",
    ),
)


_TLS_MARKERS = ("SSL", "TLS", "certificate", "CERTIFICATE")


def looks_like_tls_failure(exc: BaseException) -> bool:
    """Whether an error (from requests, botocore, psycopg) is a failed TLS handshake or verification."""
    text = _full_text(exc)
    return any(marker in text for marker in _TLS_MARKERS)


_CLOSED = ("EOF occurred in violation of protocol", "UNEXPECTED_EOF", "Connection reset by peer")


def describe_tls_error(exc: BaseException, *, client_cert: bool | None = None) -> str:
    """A sentence saying why a TLS handshake failed, with OpenSSL's own words in brackets.

    With TLS 1.3 a server that refuses the client's certificate (or its absence) may just close
    the connection after the handshake; `client_cert` says whether Quill presented one, so the
    sentence can say which it probably was.
    """
    text = _full_text(exc)
    for marker, sentence in _REASONS:
        if marker in text:
            return f"{sentence} ({_openssl_reason(text)})"
    if any(marker in text for marker in _CLOSED):
        if client_cert is False:
            return f"{_NO_CLIENT_CERT}; the server closed the connection during the handshake ({_openssl_reason(text)})"
        if client_cert:
            return (
                "the server closed the connection during the handshake: it probably does not accept Quill's client "
                f"certificate ({_openssl_reason(text)})"
            )
    return _openssl_reason(text)


def _full_text(exc: BaseException) -> str:
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                parts.append(_full_text(arg))
        current = current.__cause__ or current.__context__
    return " | ".join(parts)


def _openssl_reason(text: str) -> str:
    for marker in ("[SSL: ", "SSL error: ", "certificate verify failed: ", "EOF occurred", "SSLError("):
        if marker in text:
            start = text.index(marker)
            end = text.find(")", start)
            return text[start : end if end > 0 else start + 160].strip(" ('\"")
    return text[:200]
