"""API tokens: hashed, shown once, expiring, revocable on the next request, organisation-scoped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from apps.accounts.authentication import TOKEN_LOOKUP, ApiTokenAuthentication
from apps.accounts.models import ApiToken, Organisation
from apps.accounts.services import api_token_create, api_token_revoke, hash_token_key
from quill.compiled import CompiledLookup
from tests import factories
from tests.accounts.helpers import actions

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

WHOAMI = "/api/quill-test/whoami/"


def _client(key: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


def test_token_is_stored_only_as_hash(clinician):
    token, key = api_token_create(user=clinician, name="EHR integration")
    assert key.startswith("qk_")
    assert token.key_hash == hash_token_key(key)
    assert key not in token.key_hash
    assert key[3:11] == token.prefix
    assert "token.created" in actions(object_id=str(token.pk))


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"], ids=["token", "bearer", "bearer-lowercase"])
def test_token_authenticates_and_records_last_use(clinician, keyword):
    token, key = api_token_create(user=clinician, name="EHR integration")
    response = _client(key, keyword).get(WHOAMI)
    assert response.status_code == 200
    assert response.json() == {"email": clinician.email, "organisation": str(clinician.organisation_id)}
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_token_is_refused_on_next_request(clinician, administrator):
    # given a token that works
    token, key = api_token_create(user=clinician, name="EHR integration")
    client = _client(key)
    assert client.get(WHOAMI).status_code == 200
    # when it is revoked
    api_token_revoke(token=token, actor=administrator)
    # then its next request gets 401 with the error shape
    response = client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json() == {"detail": {"message": "This API token has been revoked.", "error_code": "token_revoked"}}
    assert response["WWW-Authenticate"] == "Token"
    assert "token.revoked" in actions(object_id=str(token.pk))


def test_expired_token_is_refused(clinician):
    token, key = api_token_create(user=clinician, name="EHR integration")
    client = _client(key)
    assert client.get(WHOAMI).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json() == {"detail": {"message": "This API token has expired.", "error_code": "token_expired"}}


@pytest.mark.parametrize(
    "header",
    ["Token qk_not-a-real-key", "Token ", "Token two words", "Bearer qk_not-a-real-key"],
    ids=["unknown", "empty", "spaces", "bearer-unknown"],
)
def test_bad_token_is_refused(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["detail"]["error_code"] == "authentication_failed"


def test_no_credentials_is_refused(db):
    response = APIClient().get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["detail"]["error_code"] == "not_authenticated"


def test_token_of_deactivated_user_is_refused(clinician):
    _, key = api_token_create(user=clinician, name="EHR integration")
    clinician.is_active = False
    clinician.save()
    assert _client(key).get(WHOAMI).status_code == 401


def test_token_of_organisation_a_never_reaches_organisation_b(clinician, patient, other_patient):
    # given a token of organisation A, which can read A's patient
    client = factories.token_client(clinician)
    own = client.get(f"/api/patients/{patient.pk}/")
    assert own.status_code == 200, own.content
    # when it asks for organisation B's patient
    response = client.get(f"/api/patients/{other_patient.pk}/")
    # then it is told the record does not exist, exactly as for an id that exists nowhere (no existence leak)
    nowhere = client.get(f"/api/patients/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json()["detail"]["error_code"] == "not_found"
    assert response.json() == nowhere.json()
    assert other_patient.family_name not in response.content.decode()


def test_create_api_token_command_prints_key_once(clinician, capsys):
    call_command("create_api_token", email=clinician.email.upper(), name="Lab feed", days=30)
    output = capsys.readouterr().out
    key = output.strip().splitlines()[-1]
    token = ApiToken.objects.get(name="Lab feed")
    assert token.key_hash == hash_token_key(key)
    assert token.user == clinician
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert _client(key).get(WHOAMI).status_code == 200


@pytest.mark.parametrize(
    ("email", "days", "message"),
    [
        ("nobody@example.test", None, "No user has the email address 'nobody@example.test'"),
        (None, 0, "--days must be at least 1."),
    ],
    ids=["unknown-user", "zero-days"],
)
def test_create_api_token_command_refuses(clinician, email, days, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", email=email or clinician.email, name="Lab feed", days=days)
    assert not ApiToken.objects.exists()


def test_create_api_token_command_exits_non_zero_for_unknown_user(db):
    database = connection.settings_dict
    test_database_url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "--email", "nobody@example.test", "--name", "x"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": test_database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "No user has the email address 'nobody@example.test'" in result.stderr


def test_token_of_user_moved_to_another_organisation_is_refused(clinician):
    # given a token issued in the user's organisation
    _, key = api_token_create(user=clinician, name="EHR integration")
    # when the user now belongs to another organisation
    clinician.organisation = factories.make_organisation(name="Other clinic")
    clinician.save()
    # then the token no longer works
    response = _client(key).get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["detail"]["message"] == "This API token's user can no longer use Quill."


def test_token_authentication_is_one_query_and_shares_the_organisation(clinician, django_assert_num_queries):
    # given a token used within the last minute (so last use is not written again)
    token, key = api_token_create(user=clinician, name="EHR integration")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    request = Request(APIRequestFactory().get(WHOAMI, HTTP_AUTHORIZATION=f"Token {key}"))
    # when it authenticates, then one query loads token, user and organisation
    with django_assert_num_queries(1):
        user, authenticated = ApiTokenAuthentication().authenticate(request)
        organisation = user.organisation
    assert authenticated.pk == token.pk
    assert organisation.pk == clinician.organisation_id
    assert organisation is authenticated.organisation


def _columns(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_compiled_token_lookup_returns_what_the_orm_returns(organisation):
    # given a token whose user and organisation use every kind of column (JSON, dates, booleans, UUIDs)
    Organisation.objects.filter(pk=organisation.pk).update(ip_allowlist=["10.0.0.0/8", "192.0.2.7"])
    user = factories.make_user(organisation, ["clinician", "administrator"], email="both@clinic.test")
    token, key = api_token_create(user=user, name="EHR integration")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    key_hash = hash_token_key(key)

    # when it is looked up compiled (the hot path) and through the plain ORM
    compiled, orm = TOKEN_LOOKUP.get(key_hash), TOKEN_LOOKUP.orm(key_hash)

    # then the same rows come back, column by column, with the same related instances
    assert compiled is not None and orm is not None
    assert _columns(compiled) == _columns(orm)
    assert _columns(compiled.user) == _columns(orm.user)
    assert _columns(compiled.organisation) == _columns(orm.organisation)
    assert compiled.organisation.ip_allowlist == ["10.0.0.0/8", "192.0.2.7"]
    assert compiled.user.roles == ["clinician", "administrator"]
    assert TOKEN_LOOKUP.get(hash_token_key("not-a-key")) is None and TOKEN_LOOKUP.orm(hash_token_key("x")) is None


def test_the_compiled_lookup_refuses_a_queryset_with_other_parameters(organisation):
    lookup = CompiledLookup(lambda key_hash: ApiToken.objects.filter(key_hash=key_hash, name="fixed"))

    with pytest.raises(ValueError, match="only parameter"):
        lookup.get("anything")
