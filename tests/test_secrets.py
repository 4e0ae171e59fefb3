"""Secrets from variables or `_FILE`s, and kept out of logs, error reports and check_services."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.views.debug import technical_500_response

from quill import checks, secrets
from quill.logging import JsonFormatter, SecretRedactingFilter
from tests.test_settings import GOOD_PRODUCTION, REPO, _manage

SECRET = "s3cr3t-Pa55word-for-tests"


@pytest.fixture
def remembered():
    secrets.remember(SECRET)
    return SECRET


# --- reading ------------------------------------------------------------------------------------


def test_a_secret_comes_from_its_variable():
    assert secrets.read_secret("QUILL_TEST_SECRET", environ={"QUILL_TEST_SECRET": "from-variable"}) == "from-variable"


def test_a_secret_comes_from_its_file_without_the_trailing_newline(tmp_path):
    path = tmp_path / "secret"
    path.write_text("from file with spaces \n")
    value = secrets.read_secret("QUILL_TEST_SECRET", environ={"QUILL_TEST_SECRET_FILE": str(path)})
    assert value == "from file with spaces "


def test_an_unset_secret_is_the_default():
    assert secrets.read_secret("QUILL_TEST_SECRET", "fallback", environ={}) == "fallback"


def test_both_the_variable_and_its_file_is_an_error(tmp_path):
    path = tmp_path / "secret"
    path.write_text("one")
    with pytest.raises(ImproperlyConfigured, match="QUILL_TEST_SECRET and QUILL_TEST_SECRET_FILE are both set"):
        secrets.read_secret(
            "QUILL_TEST_SECRET", environ={"QUILL_TEST_SECRET": "two", "QUILL_TEST_SECRET_FILE": str(path)}
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [pytest.param(None, "which Quill cannot read", id="missing"), pytest.param("\n", "which is empty", id="empty")],
)
def test_a_file_that_holds_no_secret_is_an_error(tmp_path, content, message):
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ImproperlyConfigured, match=message):
        secrets.read_secret("QUILL_TEST_SECRET", environ={"QUILL_TEST_SECRET_FILE": str(path)})


def test_secrets_given_in_variables_are_listed_for_the_deploy_check(tmp_path):
    path = tmp_path / "secret"
    path.write_text("from-a-file")
    secrets.read_secret("QUILL_TEST_DIRECT", environ={"QUILL_TEST_DIRECT": "in-the-environment"})
    secrets.read_secret("QUILL_TEST_FILED", environ={"QUILL_TEST_FILED_FILE": str(path)})
    secrets.read_secret("QUILL_TEST_USER", environ={"QUILL_TEST_USER": "quill-user"}, sensitive=False)
    listed = secrets.given_in_environment()
    assert "QUILL_TEST_DIRECT" in listed
    assert "QUILL_TEST_FILED" not in listed and "QUILL_TEST_USER" not in listed


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        pytest.param("redis://redis:6379/0", "pw-from-file", "redis://:pw-from-file@redis:6379/0", id="added"),
        pytest.param("redis://:own@redis:6379/0", "pw-from-file", "redis://:own@redis:6379/0", id="url-wins"),
        pytest.param("redis://redis:6379/0", "", "redis://redis:6379/0", id="no-password"),
        pytest.param("rediss://u@redis/1", "p@ss/word", "rediss://u:p%40ss%2Fword@redis/1", id="quoted"),
    ],
)
def test_a_redis_password_from_a_file_joins_the_url(url, password, expected):
    assert secrets.with_password(url, password) == expected


# --- start-up -----------------------------------------------------------------------------------


def test_settings_read_secrets_from_files(tmp_path):
    # given the database password, the S3 secret and the FHIR password in files
    files = {"QUILL_DATABASE_PASSWORD": "db-pw-in-file", "QUILL_S3_SECRET_ACCESS_KEY": "s3-in-file"}
    files["QUILL_FHIR_PASSWORD"] = "fhir-in-file"
    environment: dict[str, str | None] = {
        "DATABASE_URL": "postgres://quill@db.example.test/quill",
        "QUILL_STORAGE": "s3",
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
        environment[f"{name}_FILE"] = str(tmp_path / name)
    script = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['PASSWORD'], s.STORAGES['documents']['OPTIONS']['secret_key'], "
        "s.QUILL_FHIR_PASSWORD)"
    )
    # when Django starts
    result = _manage("shell", "-c", script, env_overrides=environment, tmp_path=tmp_path)
    # then each setting holds the file's contents
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["db-pw-in-file", "s3-in-file", "fhir-in-file"]


def test_start_up_refuses_a_secret_set_twice(tmp_path):
    (tmp_path / "key").write_text("x" * 60)
    environment = {**GOOD_PRODUCTION, "DJANGO_SECRET_KEY_FILE": str(tmp_path / "key")}
    result = _manage("check", env_overrides=environment, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY and DJANGO_SECRET_KEY_FILE are both set" in result.stderr
    assert GOOD_PRODUCTION["DJANGO_SECRET_KEY"] not in result.stderr


# --- never shown --------------------------------------------------------------------------------


def _log_through_quill_filters(*args, **kwargs) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretRedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("quill.tests.secrets")
    logger.addHandler(handler)
    try:
        logger.error(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_console_log_handler_redacts_secrets():
    assert "secrets" in settings.LOGGING["handlers"]["console"]["filters"]


def test_log_lines_and_tracebacks_never_show_a_secret(remembered):
    # given a message and an exception that both contain a secret
    try:
        raise ConnectionError(f"could not log in with {remembered}")
    except ConnectionError:
        line = _log_through_quill_filters("connecting with %s failed", remembered, exc_info=True)
    # then the log line shows neither, but says where they were
    assert remembered not in line
    assert line.count(secrets.REDACTED) >= 2
    assert "ConnectionError" in line


def test_any_url_password_is_redacted_even_if_unknown():
    line = _log_through_quill_filters("broker redis://:hunter2-unknown@redis:6379/0 is down")
    assert "hunter2-unknown" not in line and "redis://:********@redis:6379/0" in line


def test_error_reports_never_show_a_secret(settings, remembered):
    # given a failure whose message and local variables hold a secret, and secrets in settings
    settings.DEBUG = True
    settings.QUILL_REDIS_URL = f"redis://:{remembered}@redis:6379/0"
    settings.QUILL_FHIR_PASSWORD = remembered
    password = remembered  # noqa: F841 - a local variable the report would show
    try:
        raise RuntimeError(f"the server refused {remembered}")
    except RuntimeError:
        response = technical_500_response(RequestFactory().get("/"), *sys.exc_info())
    # then the debug page (the same report as the mails to ADMINS) shows none of them
    page = response.content.decode()
    assert "RuntimeError" in page and "QUILL_REDIS_URL" in page
    assert remembered not in page


def test_check_services_output_never_shows_a_secret(remembered, monkeypatch):
    # given a service check whose failure message contains a secret
    def leaky_check():
        raise ConnectionError(f"login as quill:{remembered} refused")

    monkeypatch.setitem(checks.CHECKS, "leaky", leaky_check)
    # when the checks run
    [result] = checks.run_checks(["leaky"])
    # then the failure is reported without the secret
    assert not result.ok
    assert remembered not in result.detail and secrets.REDACTED in result.detail


def test_outbox_errors_shown_in_the_admin_never_show_a_secret(remembered, db):
    from apps.outbox.models import OutboxMessage
    from apps.outbox.services import outbox_mark_dead

    message = OutboxMessage.objects.create(target="fhir", kind="patient", object_id="1")
    outbox_mark_dead(message=message, error=f"rejected token {remembered}")
    message.refresh_from_db()
    assert remembered not in message.last_error


# --- documented --------------------------------------------------------------------------------


def test_every_secret_setting_has_its_file_form_documented():
    read = set(re.findall(r"read_secret\(\s*\"([A-Z0-9_]+)\"", (REPO / "quill" / "settings.py").read_text()))
    documentation = (REPO / "docs" / "configuration.md").read_text()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "QUILL_S3_SECRET_ACCESS_KEY"} <= read
    assert sorted(name for name in read if f"{name}_FILE" not in documentation) == []


def test_a_url_without_a_password_in_a_variable_is_no_secret_in_the_environment():
    secrets.read_secret("QUILL_TEST_URL_PLAIN", environ={"QUILL_TEST_URL_PLAIN": "postgres://quill@db/quill"})
    secrets.read_secret("QUILL_TEST_URL_PW", environ={"QUILL_TEST_URL_PW": "postgres://quill:pw-in-url@db/quill"})
    listed = secrets.given_in_environment()
    assert "QUILL_TEST_URL_PW" in listed and "QUILL_TEST_URL_PLAIN" not in listed
