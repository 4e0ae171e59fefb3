"""OAuth2 to FHIR and EHRbase (SMART Backend Services): the grant, the token cache, 401s, no stampede.

The in-test FHIR and EHRbase servers carry a real token endpoint (tests/oauth_server.py)
that checks the assertion's signature and claims with joserfc and refuses API calls
without a token it issued. The token cache is Django's cache: Redis in these tests, as in
production, so separate TokenSources stand for separate worker processes.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from apps.fhir.client import FhirClient
from apps.fhir.errors import FhirConfigurationError, FhirRejectedError
from apps.letters.errors import EhrRejectedError
from apps.letters.openehr.client import EhrbaseClient
from quill.oauth import OAuthConfig, OAuthRefused, TokenSource
from tests.fhir.fhir_server import FhirTestServer
from tests.letters.openehr_server import FakeEhrbase
from tests.oauth_server import ASSERTION_TYPE, TokenIssuer

SCOPES = "system/Patient.cruds system/DocumentReference.cruds"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:quill:patient", "value": "p-1"}],
    "name": [{"family": "Example", "given": ["Alex"]}],
}


def _pem(private_key) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="session")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="session")
def ec_pem() -> str:
    return _pem(ec.generate_private_key(ec.SECP384R1()))


def _public(pem: str, algorithm: str) -> RSAKey | ECKey:
    key = ECKey.import_key(pem) if algorithm == "ES384" else RSAKey.import_key(pem)
    return type(key).import_key(key.as_dict(private=False))


@pytest.fixture
def client_id() -> str:
    return f"quill-{uuid.uuid4().hex[:8]}"  # a fresh cache entry for every test


@pytest.fixture
def fhir(rsa_pem, client_id) -> Iterator[FhirTestServer]:
    issuer = TokenIssuer(client_id, public_key=_public(rsa_pem, "RS384"), allowed_scopes=frozenset(SCOPES.split()))
    with FhirTestServer(oauth=issuer) as server:
        yield server


def _config(server, client_id: str, **overrides) -> OAuthConfig:
    values = {
        "name": "fhir",
        "token_url": server.token_url,
        "client_id": client_id,
        "scopes": SCOPES,
        "method": "private_key_jwt",
        "algorithm": "RS384",
        "key_id": "quill-key-1",
        "timeout": 5.0,
    }
    values.update(overrides)
    return OAuthConfig(**values)


def _client(server: FhirTestServer, source: TokenSource) -> FhirClient:
    return FhirClient(server.base_url, auth="oauth2", token_source=source, timeout=5.0)


# --- the grant ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_private_key_jwt_gets_a_token_and_the_writes_carry_it(rsa_pem, ec_pem, client_id, algorithm):
    # given a FHIR server that knows Quill's public key
    pem = ec_pem if algorithm == "ES384" else rsa_pem
    issuer = TokenIssuer(client_id, public_key=_public(pem, algorithm), allowed_scopes=frozenset(SCOPES.split()))
    with FhirTestServer(oauth=issuer) as server:
        source = TokenSource(_config(server, client_id, algorithm=algorithm, private_key=pem))
        # when Quill writes twice
        with _client(server, source) as client:
            first = client.put_patient(PATIENT)
            client.put_patient(PATIENT)
    # then one token was fetched, with a SMART assertion, and both writes were accepted with it
    assert first.created
    assert len(issuer.token_requests) == 1, issuer.refusals
    form = issuer.token_requests[0]
    assert form["grant_type"] == "client_credentials" and form["scope"] == SCOPES
    assert form["client_assertion_type"] == ASSERTION_TYPE
    header = jwt.decode(form["client_assertion"], _public(pem, algorithm), algorithms=[algorithm]).header
    assert header["alg"] == algorithm and header["kid"] == "quill-key-1" and header["typ"] == "JWT"
    authorisations = {request.headers.get("Authorization") for request in server.requests_to("PUT", "Patient")}
    assert len(authorisations) == 1 and next(iter(authorisations)).startswith("Bearer ")


def test_client_secret_basic_gets_a_token(client_id):
    issuer = TokenIssuer(client_id, client_secret="a-client-secret-0123", allowed_scopes=frozenset(SCOPES.split()))
    with FhirTestServer(oauth=issuer) as server:
        config = _config(server, client_id, method="client_secret_basic", client_secret="a-client-secret-0123")
        with _client(server, TokenSource(config)) as client:
            assert client.put_patient(PATIENT).created
    assert len(issuer.token_requests) == 1 and "client_assertion" not in issuer.token_requests[0]


def test_the_server_refuses_api_calls_without_a_token_it_issued(fhir):
    for headers in ({}, {"Authorization": "Bearer made-up"}):
        response = requests.get(f"{fhir.base_url}/Patient", headers=headers, timeout=5)
        assert response.status_code == 401


# --- the test server's token endpoint validates the assertion -------------------------------------------


def _assertion(pem: str, server, client_id: str, **changes) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": server.token_url, "exp": now + 240, "jti": uuid.uuid4().hex}
    claims.update(changes.pop("claims", {}))
    claims = {key: value for key, value in claims.items() if value is not None}
    algorithm = changes.pop("alg", "RS384")
    key = RSAKey.import_key(pem) if algorithm.startswith(("RS", "PS")) else changes.pop("key")
    return jwt.encode({"alg": algorithm, "typ": "JWT"}, claims, key, algorithms=[algorithm])


def _token_request(server, assertion: str) -> requests.Response:
    return requests.post(
        server.token_url,
        data={
            "grant_type": "client_credentials",
            "scope": SCOPES,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=5,
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"iss": "someone-else"}, "iss and sub", id="wrong-iss"),
        pytest.param({"sub": "someone-else"}, "iss and sub", id="wrong-sub"),
        pytest.param({"aud": "https://elsewhere.example/token"}, "aud must be", id="wrong-aud"),
        pytest.param({"exp": int(time.time()) - 120}, "in the past", id="expired"),
        pytest.param({"exp": int(time.time()) + 3600}, "five minutes", id="exp-too-far"),
        pytest.param({"exp": None}, "exp missing", id="no-exp"),
        pytest.param({"jti": None}, "jti missing", id="no-jti"),
    ],
)
def test_the_token_endpoint_refuses_a_bad_assertion(fhir, rsa_pem, client_id, claims, reason):
    response = _token_request(fhir, _assertion(rsa_pem, fhir, client_id, claims=claims))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert reason in fhir.oauth.refusals[-1]


def test_the_token_endpoint_refuses_another_key_and_a_replayed_jti(fhir, rsa_pem, client_id):
    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert _token_request(fhir, _assertion(other, fhir, client_id)).status_code == 401
    assert "signature" in fhir.oauth.refusals[-1]
    assertion = _assertion(rsa_pem, fhir, client_id)
    assert _token_request(fhir, assertion).status_code == 200
    assert _token_request(fhir, assertion).status_code == 401
    assert "jti replayed" in fhir.oauth.refusals[-1]


def test_the_token_endpoint_refuses_scopes_not_granted(fhir, rsa_pem, client_id):
    source = TokenSource(_config(fhir, client_id, private_key=rsa_pem, scopes="system/*.*"))
    with pytest.raises(OAuthRefused, match="invalid_scope"):
        source.token()


# --- token handling -------------------------------------------------------------------------------------


def test_a_token_revoked_early_is_refreshed_once(fhir, rsa_pem, client_id):
    # given a client holding a token the server then stops accepting
    with _client(fhir, TokenSource(_config(fhir, client_id, private_key=rsa_pem))) as client:
        client.put_patient(PATIENT)
        fhir.oauth.revoke_all()
        # when it writes again
        client.put_patient(PATIENT)
    # then the 401 made it fetch one new token and the write went through
    assert len(fhir.oauth.token_requests) == 2
    statuses = [request.headers.get("Authorization") for request in fhir.requests_to("PUT", "Patient")]
    assert len(statuses) == 3 and statuses[1] != statuses[2]


def test_a_second_401_is_terminal(fhir, rsa_pem, client_id, monkeypatch):
    # given a server that issues tokens but accepts none of them
    monkeypatch.setattr(fhir.oauth, "authorised", lambda header: False)
    client = _client(fhir, TokenSource(_config(fhir, client_id, private_key=rsa_pem)))
    # when Quill writes, then the write is rejected for good after one refresh
    with pytest.raises(FhirRejectedError, match="refused Quill's access token twice") as raised:
        client.put_patient(PATIENT)
    client.close()
    assert raised.value.status == 401
    assert len(fhir.oauth.token_requests) == 2 and len(fhir.requests_to("PUT", "Patient")) == 2


def test_a_token_is_kept_until_shortly_before_it_expires(fhir, rsa_pem, client_id):
    # given tokens that live two seconds (under twice the refresh margin: kept for half their life)
    fhir.oauth.token_lifetime = 2
    source = TokenSource(_config(fhir, client_id, private_key=rsa_pem))
    first = source.token()
    assert source.token() == first and len(fhir.oauth.token_requests) == 1
    # when its kept life has passed, then a new one is fetched before the old one expires
    time.sleep(1.2)
    assert source.token() != first and len(fhir.oauth.token_requests) == 2


def test_concurrent_workers_fetch_one_token(fhir, rsa_pem, client_id, monkeypatch):
    # given a slow token endpoint and eight workers, each with its own TokenSource (as in separate processes)
    handle = fhir.oauth.handle

    def slow_handle(headers, body):
        time.sleep(0.3)
        return handle(headers, body)

    monkeypatch.setattr(fhir.oauth, "handle", slow_handle)
    config = _config(fhir, client_id, private_key=rsa_pem)
    tokens: list[str] = []
    start = threading.Barrier(8)

    def worker():
        source = TokenSource(config)
        start.wait()
        tokens.append(source.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    # then the endpoint was asked once and every worker uses that token
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert len(fhir.oauth.token_requests) == 1


# --- configuration --------------------------------------------------------------------------------------


def test_incomplete_configuration_names_the_settings(rsa_pem):
    config = OAuthConfig(name="fhir", token_url="", client_id="", scopes="", method="private_key_jwt")
    with pytest.raises(OAuthRefused) as raised:
        TokenSource(config)
    for name in ("QUILL_FHIR_OAUTH_TOKEN_URL", "QUILL_FHIR_OAUTH_CLIENT_ID", "QUILL_FHIR_OAUTH_PRIVATE_KEY_FILE"):
        assert name in str(raised.value)
    public = serialization.load_pem_private_key(rsa_pem.encode(), None).public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(OAuthRefused, match="public key"):
        TokenSource(replace(config, token_url="https://a.example/t", client_id="x", private_key=public_pem.decode()))


def test_fhir_sync_uses_oauth_from_the_settings(settings, fhir, rsa_pem, client_id, tmp_path):
    from apps.fhir.sync import fhir_client

    settings.QUILL_FHIR_BASE_URL = fhir.base_url
    settings.QUILL_FHIR_AUTH = "oauth2"
    settings.QUILL_FHIR_OAUTH_TOKEN_URL = fhir.token_url
    settings.QUILL_FHIR_OAUTH_CLIENT_ID = client_id
    settings.QUILL_FHIR_OAUTH_PRIVATE_KEY = rsa_pem
    with fhir_client() as client:
        assert client.put_patient(PATIENT).created
    settings.QUILL_FHIR_OAUTH_CLIENT_ID = ""
    with pytest.raises(FhirConfigurationError, match="QUILL_FHIR_OAUTH_CLIENT_ID"):
        fhir_client()


# --- EHRbase --------------------------------------------------------------------------------------------


def test_ehrbase_accepts_oauth_and_a_second_401_is_a_rejection(rsa_pem, client_id, monkeypatch):
    issuer = TokenIssuer(client_id, public_key=_public(rsa_pem, "RS384"), allowed_scopes=frozenset({"system/*.cruds"}))
    with FakeEhrbase(oauth=issuer) as server:
        config = _config(server, client_id, name="ehrbase", private_key=rsa_pem, scopes="system/*.cruds")
        client = EhrbaseClient(server.base_url, username="", password="", timeout=5.0, token_source=TokenSource(config))
        ehr_id = client.create_ehr("9434765919", "quill")
        assert client.find_ehr("9434765919", "quill") == ehr_id
        assert len(issuer.token_requests) == 1
        # basic auth is not accepted in its place
        assert requests.get(f"{server.base_url}/ehr", auth=("quill", "secret"), timeout=5).status_code == 401
        monkeypatch.setattr(issuer, "authorised", lambda header: False)
        with pytest.raises(EhrRejectedError, match="refused Quill's access token twice"):
            client.find_ehr("9434765919", "quill")
        assert len(issuer.token_requests) == 2


def test_check_services_reaches_fhir_with_an_oauth_token(settings, fhir, rsa_pem, client_id, monkeypatch):
    from tests.operations.helpers import run

    settings.QUILL_FHIR_BASE_URL = fhir.base_url
    settings.QUILL_FHIR_AUTH = "oauth2"
    settings.QUILL_FHIR_OAUTH_TOKEN_URL = fhir.token_url
    settings.QUILL_FHIR_OAUTH_CLIENT_ID = client_id
    settings.QUILL_FHIR_OAUTH_PRIVATE_KEY = rsa_pem
    result = run("check_services", "--only", "fhir")
    assert result.code == 0, result.out
    assert len(fhir.oauth.token_requests) == 1
    # a server that takes no token: one refresh, then a clear failure
    monkeypatch.setattr(fhir.oauth, "authorised", lambda header: False)
    result = run("check_services", "--only", "fhir")
    assert result.code == 1 and "answered 401" in result.out
    assert len(fhir.oauth.token_requests) == 2


def test_the_system_check_names_missing_oauth_settings(settings):
    from quill.system_checks import oauth_configuration

    settings.QUILL_FHIR_BASE_URL = "https://fhir.example.test/fhir"
    settings.QUILL_FHIR_AUTH = "oauth2"
    settings.QUILL_FHIR_OAUTH_TOKEN_URL = "https://auth.example.test/token"
    settings.QUILL_FHIR_OAUTH_CLIENT_ID = ""
    settings.QUILL_FHIR_OAUTH_PRIVATE_KEY = ""
    messages = [error.msg for error in oauth_configuration(None)]
    assert any("QUILL_FHIR_OAUTH_CLIENT_ID" in message for message in messages)
    assert any("QUILL_FHIR_OAUTH_PRIVATE_KEY_FILE" in message for message in messages)
    settings.QUILL_FHIR_AUTH = "none"
    assert oauth_configuration(None) == []
