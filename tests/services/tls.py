"""Test certificates (trustme): one CA for the servers and Quill's client certificate, and the bad ones.

`TestPki` writes PEM files into a folder: the CA bundle Quill is told to trust, a server
certificate for 127.0.0.1 and localhost, Quill's client certificate (common name `quill`,
the PostgreSQL user it logs in as), an expired server certificate from the same CA, and a
second, unrelated CA for the "wrong CA" tests. Servers on the test side also get
`server_context()` for Python's ssl module.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

CLIENT_NAME = "quill"


@dataclass(frozen=True)
class TestPki:
    __test__ = False  # not a test class
    folder: Path
    ca_file: Path
    server_cert: Path
    server_key: Path
    expired_server_cert: Path
    expired_server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_file: Path

    def server_context(self, *, expired: bool = False, require_client_cert: bool = True) -> ssl.SSLContext:
        """A server-side context; with `require_client_cert`, the handshake fails without a client certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if expired:
            context.load_cert_chain(self.expired_server_cert, self.expired_server_key)
        else:
            context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca_file)
        return context


def make_pki(folder: Path) -> TestPki:
    folder.mkdir(parents=True, exist_ok=True)
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_cert(
        "127.0.0.1", "localhost", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    client = ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME)
    pki = TestPki(
        folder=folder,
        ca_file=folder / "ca.pem",
        server_cert=folder / "server.crt",
        server_key=folder / "server.key",
        expired_server_cert=folder / "expired.crt",
        expired_server_key=folder / "expired.key",
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
        other_ca_file=folder / "other-ca.pem",
    )
    ca.cert_pem.write_to_path(str(pki.ca_file))
    other_ca.cert_pem.write_to_path(str(pki.other_ca_file))
    for cert, cert_path, key_path in (
        (server, pki.server_cert, pki.server_key),
        (expired, pki.expired_server_cert, pki.expired_server_key),
        (client, pki.client_cert, pki.client_key),
    ):
        chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
        cert_path.write_bytes(chain)
        cert.private_key_pem.write_to_path(str(key_path))
        os.chmod(key_path, 0o600)  # libpq refuses a client key others can read
    return pki
