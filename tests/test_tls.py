"""Verified TLS and mutual TLS, end to end, with trustme certificates.

Real TLS every time: a private PostgreSQL cluster (ssl=on, client-certificate auth only),
SeaweedFS's S3 gateway on HTTPS requiring a client certificate, and the in-test FHIR and
EHRbase servers on HTTPS requiring one. Each works with the right CA and certificate, and
fails -- quickly, with a sentence that says why, from `check_services` -- with the wrong CA,
an expired server certificate, or no client certificate; never a plaintext fallback.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from botocore.exceptions import SSLError as BotoSSLError

from apps.fhir.client import FhirClient
from apps.fhir.errors import FhirRetryableError
from apps.letters.errors import EhrRetryableError
from apps.letters.openehr.client import EhrbaseClient
from quill import checks
from quill.s3 import s3_client_config
from quill.tls import describe_tls_error, plaintext_problems, postgres_tls_options
from tests.fhir.fhir_server import FhirTestServer
from tests.letters.openehr_server import FakeEhrbase
from tests.operations.helpers import run
from tests.services.postgres import DATABASE, PostgresTls
from tests.services.storage import s3_settings
from tests.services.tls import CLIENT_NAME, TestPki

PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:quill:patient", "value": "tls-1"}]}
UNTRUSTED = "not signed by a CA in the configured CA bundle"
EXPIRED = "certificate has expired"
NO_CLIENT_CERT = "requires a client certificate"


@pytest.fixture(scope="module")
def https_fhir(pki: TestPki) -> Iterator[FhirTestServer]:
    with FhirTestServer(tls=pki.server_context()) as server:
        yield server


@pytest.fixture(scope="module")
def expired_fhir(pki: TestPki) -> Iterator[FhirTestServer]:
    with FhirTestServer(tls=pki.server_context(expired=True)) as server:
        yield server


@pytest.fixture(scope="module")
def https_ehrbase(pki: TestPki) -> Iterator[FakeEhrbase]:
    with FakeEhrbase(tls=pki.server_context()) as server:
        yield server


@pytest.fixture(scope="module")
def expired_ehrbase(pki: TestPki) -> Iterator[FakeEhrbase]:
    with FakeEhrbase(tls=pki.server_context(expired=True)) as server:
        yield server


# --- FHIR and EHRbase ---------------------------------------------------------------------------------


def test_fhir_writes_over_mutual_tls(https_fhir, pki):
    with FhirClient(
        https_fhir.base_url, verify=str(pki.ca_file), cert=(str(pki.client_cert), str(pki.client_key))
    ) as client:
        assert client.put_patient(PATIENT).id
    assert https_fhir.base_url.startswith("https://")


def test_fhir_without_a_client_certificate_is_a_tls_failure_not_a_plaintext_retry(https_fhir, pki):
    with (
        FhirClient(https_fhir.base_url, verify=str(pki.ca_file), timeout=5.0) as client,
        pytest.raises(FhirRetryableError, match=NO_CLIENT_CERT),
    ):
        client.put_patient(PATIENT)


def _fhir_settings(settings, server, pki, *, ca=None, client_cert=True):
    settings.QUILL_FHIR_BASE_URL = server.base_url
    settings.QUILL_FHIR_AUTH = "none"
    settings.QUILL_FHIR_CA_BUNDLE = str(ca or pki.ca_file)
    settings.QUILL_FHIR_CLIENT_CERT = str(pki.client_cert) if client_cert else ""
    settings.QUILL_FHIR_CLIENT_KEY = str(pki.client_key) if client_cert else ""


def test_check_services_reaches_fhir_over_mutual_tls(settings, https_fhir, pki):
    _fhir_settings(settings, https_fhir, pki)
    result = run("check_services", "--only", "fhir")
    assert result.code == 0, result.out
    assert "OK   fhir" in result.out


@pytest.mark.parametrize(
    ("case", "reason"),
    [("wrong-ca", UNTRUSTED), ("expired", EXPIRED), ("no-client-cert", NO_CLIENT_CERT)],
)
def test_check_services_names_the_fhir_tls_failure(settings, https_fhir, expired_fhir, pki, case, reason):
    server = expired_fhir if case == "expired" else https_fhir
    _fhir_settings(
        settings,
        server,
        pki,
        ca=pki.other_ca_file if case == "wrong-ca" else None,
        client_cert=case != "no-client-cert",
    )
    result = run("check_services", "--only", "fhir")
    assert result.code == 1
    assert "FAIL fhir       TLS handshake failed: the server" in result.out
    assert reason in result.out


def test_ehrbase_over_mutual_tls_and_its_check(settings, https_ehrbase, expired_ehrbase, pki):
    cert = (str(pki.client_cert), str(pki.client_key))
    client = EhrbaseClient(
        https_ehrbase.base_url, username="quill", password="secret", timeout=5.0, verify=str(pki.ca_file), cert=cert
    )
    assert client.create_ehr("9434765919", "quill")
    settings.QUILL_EHRBASE_URL = https_ehrbase.base_url
    settings.QUILL_EHRBASE_USERNAME, settings.QUILL_EHRBASE_PASSWORD = "quill", "secret"
    settings.QUILL_EHRBASE_CA_BUNDLE = str(pki.ca_file)
    settings.QUILL_EHRBASE_CLIENT_CERT, settings.QUILL_EHRBASE_CLIENT_KEY = cert
    assert run("check_services", "--only", "ehrbase").code == 0
    settings.QUILL_EHRBASE_CLIENT_CERT = settings.QUILL_EHRBASE_CLIENT_KEY = ""
    result = run("check_services", "--only", "ehrbase")
    assert result.code == 1 and NO_CLIENT_CERT in result.out
    settings.QUILL_EHRBASE_CA_BUNDLE = str(pki.other_ca_file)
    result = run("check_services", "--only", "ehrbase")
    assert result.code == 1 and UNTRUSTED in result.out
    settings.QUILL_EHRBASE_CA_BUNDLE = str(pki.ca_file)
    settings.QUILL_EHRBASE_CLIENT_CERT, settings.QUILL_EHRBASE_CLIENT_KEY = cert
    settings.QUILL_EHRBASE_URL = expired_ehrbase.base_url
    result = run("check_services", "--only", "ehrbase")
    assert result.code == 1 and EXPIRED in result.out
    with pytest.raises(EhrRetryableError, match=UNTRUSTED):
        EhrbaseClient(
            https_ehrbase.base_url, username="quill", password="secret", timeout=5.0, verify=str(pki.other_ca_file)
        ).find_ehr("9434765919", "quill")


def test_the_ssl_context_helper_verifies_and_presents_the_client_certificate(https_fhir, pki):
    """quill.tls.TlsFiles.ssl_context(), for connections made with the ssl module (the IMAP intake)."""
    import socket
    import ssl

    from quill.tls import TlsFiles

    host, port = https_fhir.origin.removeprefix("https://").split(":")
    good = TlsFiles(str(pki.ca_file), str(pki.client_cert), str(pki.client_key)).ssl_context()
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        good.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert tls.recv(12) == b"HTTP/1.1 200"
    wrong_ca = TlsFiles(str(pki.other_ca_file)).ssl_context()
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        wrong_ca.wrap_socket(raw, server_hostname=host)


# --- PostgreSQL -----------------------------------------------------------------------------------------


def _connect(cluster: PostgresTls, pki: TestPki, **changes: str) -> psycopg.Connection:
    options = postgres_tls_options(
        sslmode="verify-full",
        sslrootcert=str(pki.ca_file),
        sslcert=str(pki.client_cert),
        sslkey=str(pki.client_key),
    )
    options.update(changes)
    options = {name: value for name, value in options.items() if value}
    return psycopg.connect(
        host=cluster.host, port=cluster.port, user=CLIENT_NAME, dbname=DATABASE, connect_timeout=5, **options
    )


def test_postgres_verify_full_with_a_client_certificate(postgres_tls, pki):
    with _connect(postgres_tls, pki) as connection:
        row = connection.execute("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and CLIENT_NAME in row[1]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"sslrootcert": "other"}, "certificate verify failed", id="wrong-ca"),
        pytest.param({"sslcert": "", "sslkey": ""}, "certificate", id="no-client-cert"),
        pytest.param({"sslmode": "disable"}, "no encryption", id="plaintext-refused"),
    ],
)
def test_postgres_refuses_what_it_cannot_verify(postgres_tls, pki, changes, reason):
    if changes.get("sslrootcert") == "other":
        changes = {"sslrootcert": str(pki.other_ca_file)}
    with pytest.raises(psycopg.OperationalError) as raised:
        _connect(postgres_tls, pki, **changes)
    assert reason in str(raised.value)


def test_postgres_with_an_expired_server_certificate_is_refused(postgres_tls, pki):
    # given the cluster serving the expired certificate (files swapped, configuration reloaded)
    data = postgres_tls.data_dir
    originals = {name: (data / name).read_bytes() for name in ("server.crt", "server.key")}
    try:
        (data / "server.crt").write_bytes(pki.expired_server_cert.read_bytes())
        (data / "server.key").write_bytes(pki.expired_server_key.read_bytes())
        postgres_tls.reload()
        _wait_for_reload(postgres_tls, pki)
        # when Quill connects, then verification fails and says so
        with pytest.raises(psycopg.OperationalError) as raised:
            _connect(postgres_tls, pki)
        assert "certificate verify failed" in str(raised.value)
        assert "could not be verified" in describe_tls_error(raised.value)
    finally:
        for name, content in originals.items():
            (data / name).write_bytes(content)
        postgres_tls.reload()
        _wait_for_reload(postgres_tls, pki, working=True)


def _wait_for_reload(cluster, pki, *, working: bool = False) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _connect(cluster, pki).close()
            if working:
                return
        except psycopg.OperationalError:
            if not working:
                return
        time.sleep(0.1)
    raise AssertionError("the cluster did not reload its certificate")


@pytest.fixture
def tls_database(postgres_tls, pki, django_db_blocker, monkeypatch):
    """check_services' database check pointed at the TLS cluster, with the options settings.py builds."""
    from django.db import connections

    def use(**changes: str):
        options = postgres_tls_options(
            sslmode="verify-full",
            sslrootcert=str(pki.ca_file),
            sslcert=str(pki.client_cert),
            sslkey=str(pki.client_key),
        )
        options.update(changes)
        settings_dict = {
            **connections["default"].settings_dict,
            "NAME": DATABASE,
            "USER": CLIENT_NAME,
            "PASSWORD": "",
            "HOST": postgres_tls.host,
            "PORT": str(postgres_tls.port),
            "OPTIONS": {**options, "connect_timeout": 5},
        }
        connections.settings["tls"] = settings_dict
        connection = connections.create_connection("tls")
        opened.append(connection)
        monkeypatch.setattr(checks, "connection", connection)
        with django_db_blocker.unblock():
            return run("check_services", "--only", "database")

    opened: list = []
    yield use
    for connection in opened:
        connection.close()
    connections.settings.pop("tls", None)


def test_check_services_reaches_postgres_with_the_tls_settings(tls_database, pki):
    ok = tls_database()
    assert ok.code == 0, ok.out
    assert "OK   database   postgresql (sslmode=verify-full)" in ok.out
    wrong_ca = tls_database(sslrootcert=str(pki.other_ca_file))
    assert wrong_ca.code == 1
    assert "FAIL database   TLS handshake failed: the server's certificate could not be verified" in wrong_ca.out
    no_client_cert = tls_database(sslcert="", sslkey="")
    assert no_client_cert.code == 1
    assert "certificate" in no_client_cert.out, no_client_cert.out


# --- S3 ------------------------------------------------------------------------------------------------------


def test_s3_over_mutual_tls(s3_tls_server):
    client = s3_tls_server.client()
    client.put_object(Bucket=s3_tls_server.bucket, Key="tls-probe", Body=b"over TLS")
    assert client.get_object(Bucket=s3_tls_server.bucket, Key="tls-probe")["Body"].read() == b"over TLS"
    assert s3_tls_server.endpoint_url.startswith("https://")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"verify": "other-ca"}, UNTRUSTED, id="wrong-ca"),
        pytest.param({"client_cert": None}, NO_CLIENT_CERT, id="no-client-cert"),
    ],
)
def test_s3_refuses_what_it_cannot_verify(s3_tls_server, pki, overrides, reason):
    from botocore.config import Config

    options = {}
    if overrides.get("verify") == "other-ca":
        options["verify"] = str(pki.other_ca_file)
    if "client_cert" in overrides:
        options["config"] = Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        )
    with pytest.raises(BotoSSLError) as raised:
        s3_tls_server.client(**options).list_objects_v2(Bucket=s3_tls_server.bucket)
    assert reason in describe_tls_error(raised.value)


def test_s3_with_an_expired_certificate_is_refused(s3_expired_tls_server, pki):
    client = s3_expired_tls_server.client(verify=str(pki.ca_file))
    with pytest.raises(BotoSSLError) as raised:
        client.list_objects_v2(Bucket=s3_expired_tls_server.bucket)
    assert EXPIRED in describe_tls_error(raised.value)


def test_check_services_storage_over_tls_and_with_the_wrong_ca(settings, s3_tls_server, pki):
    values = s3_settings(s3_tls_server)
    entry = values["STORAGES"]["documents"]
    entry["OPTIONS"]["verify"] = str(pki.ca_file)
    entry["OPTIONS"]["client_config"] = s3_client_config(addressing_style="path", client_cert=s3_tls_server.client_cert)
    for name, value in values.items():
        setattr(settings, name, value)
    assert run("check_services", "--only", "storage").code == 0
    entry["OPTIONS"]["verify"] = str(pki.other_ca_file)
    settings.STORAGES = {**values["STORAGES"], "default": entry, "documents": entry}
    result = run("check_services", "--only", "storage")
    assert result.code == 1 and UNTRUSTED in result.out, result.out


# --- production refuses what is not verified ----------------------------------------------------------------


def test_production_refuses_plaintext_and_unverified_connections():
    database = {"ENGINE": "django.db.backends.postgresql", "HOST": "db.example.test", "OPTIONS": {"sslmode": "require"}}
    urls = {"QUILL_FHIR_BASE_URL": "http://fhir.example.test/fhir", "QUILL_S3_ENDPOINT_URL": "https://s3.example.test"}
    problems = plaintext_problems(allowed=[], database=database, urls=urls)
    assert len(problems) == 2
    assert "QUILL_DB_SSLMODE=verify-full" in problems[0] and "it is require" in problems[0]
    assert problems[1].startswith("QUILL_FHIR_BASE_URL must be an https:// URL")
    # a host on a private network may be named explicitly; a public address may not
    allowed = plaintext_problems(allowed=["db.example.test", "fhir.example.test"], database=database, urls=urls)
    assert allowed == []
    assert plaintext_problems(allowed=["8.8.8.8"], database=None, urls={}) == [
        "QUILL_TLS_PLAINTEXT_HOSTS names 8.8.8.8, which is not on a private network"
    ]
    assert plaintext_problems(allowed=["10.0.0.5"], database=None, urls={}) == []


def test_a_tls_failure_is_reported_as_one(monkeypatch):
    import ssl

    def failing():
        raise ssl.SSLCertVerificationError(
            1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)"
        )

    monkeypatch.setitem(checks.CHECKS, "tlsprobe", failing)
    [result] = checks.run_checks(["tlsprobe"])
    assert result.detail.startswith("TLS handshake failed: the server's certificate has expired")
