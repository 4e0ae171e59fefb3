"""Settings from the environment: production refuses unsafe configuration; check --deploy is clean."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from quill import env

REPO = Path(settings.BASE_DIR)
GOOD_PRODUCTION = {
    "QUILL_ENV": "production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "quill.example.test",
    "DATABASE_URL": "postgres://quill@db.example.test:5432/quill",
    "QUILL_PUBLIC_BASE_URL": "https://quill.example.test",
    "QUILL_DB_SSLMODE": "verify-full",
    "QUILL_DB_SSLROOTCERT": "/etc/quill/tls/ca.pem",
}


def _manage(*args: str, env_overrides: dict[str, str | None], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run manage.py in a clean environment: only what the test sets (plus PATH/HOME)."""
    environment = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    environment["QUILL_VAR_DIR"] = str(tmp_path)
    environment.update({key: value for key, value in env_overrides.items() if value is not None})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_check_deploy_is_clean(tmp_path):
    # given production mode with a real secret key (from a file), hosts and PostgreSQL
    key_file = tmp_path / "django_secret_key"
    key_file.write_text(GOOD_PRODUCTION["DJANGO_SECRET_KEY"] + "\n")
    overrides = {**GOOD_PRODUCTION, "DJANGO_SECRET_KEY": None, "DJANGO_SECRET_KEY_FILE": str(key_file)}
    # when the deployment checks run
    result = _manage("check", "--deploy", env_overrides=overrides, tmp_path=tmp_path)
    # then they pass with no issues
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_production_warns_of_a_secret_given_in_the_environment(tmp_path):
    # given production mode with the secret key in a variable rather than a file
    # when the deployment checks run
    result = _manage("check", "--deploy", env_overrides=GOOD_PRODUCTION, tmp_path=tmp_path)
    # then they pass, with a warning naming the variable and the _FILE to use instead
    assert result.returncode == 0, result.stderr
    assert "quill.W002" in result.stderr
    assert "DJANGO_SECRET_KEY is set directly in the environment" in result.stderr
    assert "DJANGO_SECRET_KEY_FILE" in result.stderr
    assert GOOD_PRODUCTION["DJANGO_SECRET_KEY"] not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must be set", id="missing-secret-key"),
        pytest.param({"DJANGO_SECRET_KEY": "short-key"}, "DJANGO_SECRET_KEY must be set", id="short-secret-key"),
        pytest.param(
            {"DJANGO_SECRET_KEY": "django-insecure-quill-development-only-key-do-not-use-in-production"},
            "DJANGO_SECRET_KEY must be set",
            id="development-secret-key",
        ),
        pytest.param({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS must list", id="missing-hosts"),
        pytest.param({"DATABASE_URL": None}, "DATABASE_URL must point at PostgreSQL", id="embedded-sqlite"),
        pytest.param(
            {"DATABASE_URL": "sqlite:////tmp/quill.sqlite3"}, "DATABASE_URL must point at PostgreSQL", id="sqlite-url"
        ),
        pytest.param({"QUILL_SCANNER": "none"}, "QUILL_SCANNER=none is only for the embedded", id="no-scanner"),
        pytest.param({"QUILL_PUBLIC_BASE_URL": None}, "QUILL_PUBLIC_BASE_URL must be", id="no-public-base-url"),
        pytest.param(
            {"QUILL_DB_SSLMODE": "require", "QUILL_FHIR_BASE_URL": "http://fhir.example.test/fhir"},
            "set QUILL_DB_SSLMODE=verify-full and QUILL_DB_SSLROOTCERT (it is require)",
            id="unverified-tls",
        ),
        pytest.param(
            {"QUILL_PUBLIC_BASE_URL": "quill.example.test"}, "QUILL_PUBLIC_BASE_URL must be", id="relative-base-url"
        ),
    ],
)
def test_production_refuses_to_start_with_unsafe_settings(tmp_path, overrides, problem):
    # given production mode with one thing wrong
    # when Django starts
    result = _manage("check", "--deploy", env_overrides={**GOOD_PRODUCTION, **overrides}, tmp_path=tmp_path)
    # then it refuses, naming the problem
    assert result.returncode != 0
    assert "Quill refuses to start in production mode" in result.stderr
    assert problem in result.stderr


def test_production_secures_cookies(tmp_path):
    script = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, "
        "s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.DEBUG, s.QUILL_LOG_FORMAT)"
    )
    result = _manage("shell", "-c", script, env_overrides=GOOD_PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True",
        "True",
        "True",
        "True",
        "True",
        "Lax",
        "False",
        "json",
    ]


def test_development_defaults_to_embedded_sqlite(tmp_path):
    script = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.QUILL_SCANNER)"
    result = _manage("shell", "-c", script, env_overrides={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["django.db.backends.sqlite3", "none"]
    assert (tmp_path).is_dir()


@pytest.mark.parametrize("seconds", ["3601", "0"], ids=["over-an-hour", "zero"])
def test_signed_url_lifetime_outside_one_hour_is_refused_at_start_up(tmp_path, seconds):
    result = _manage("check", env_overrides={"QUILL_SIGNED_URL_SECONDS": seconds}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"QUILL_SIGNED_URL_SECONDS must be between 1 and 3600 (one hour); it is {seconds}" in result.stderr


def test_signed_urls_last_five_minutes_by_default(tmp_path):
    script = "from django.conf import settings as s; print(s.QUILL_SIGNED_URL_SECONDS)"
    result = _manage("shell", "-c", script, env_overrides={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "300"


def test_development_key_is_made_for_each_installation_on_first_run(tmp_path):
    # given two development installations with no DJANGO_SECRET_KEY
    script = "from django.conf import settings as s; print(s.SECRET_KEY)"
    keys = []
    for name in ("first", "second"):
        result = _manage("shell", "-c", script, env_overrides={}, tmp_path=tmp_path / name)
        assert result.returncode == 0, result.stderr
        keys.append(result.stdout.strip().splitlines()[-1])
        # then each signs with the random key it keeps in its var folder
        assert keys[-1] == (tmp_path / name / "secret-key").read_text().strip()
    assert keys[0] != keys[1]
    assert "django-insecure" not in keys[0] and len(keys[0]) >= 50


def test_passwords_hash_with_argon2_first():
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    validators = [v["NAME"].rsplit(".", 1)[-1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert validators == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert settings.AUTH_PASSWORD_VALIDATORS[1]["OPTIONS"]["min_length"] == 12


# --- typed helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("YES", True), ("1", True), ("off", False), ("0", False), ("", False)],
    ids=["true", "yes-upper", "one", "off", "zero", "empty"],
)
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("QUILL_TEST_FLAG", raw)
    assert env.env_bool("QUILL_TEST_FLAG", not expected) is expected


@pytest.mark.parametrize(
    ("helper", "raw", "message"),
    [
        (lambda: env.env_bool("QUILL_TEST_VALUE"), "perhaps", "must be a boolean"),
        (lambda: env.env_int("QUILL_TEST_VALUE", 1), "ten", "must be a whole number"),
        (lambda: env.env_float("QUILL_TEST_VALUE", 1.0), "fast", "must be a number"),
        (lambda: env.env_choice("QUILL_TEST_VALUE", "a", {"a", "b"}), "c", "must be one of"),
    ],
    ids=["bool", "int", "float", "choice"],
)
def test_env_helpers_refuse_bad_values_naming_the_variable(monkeypatch, helper, raw, message):
    monkeypatch.setenv("QUILL_TEST_VALUE", raw)
    with pytest.raises(ImproperlyConfigured, match=f"QUILL_TEST_VALUE {message}"):
        helper()


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("QUILL_TEST_LIST", " a.example, ,b.example ")
    assert env.env_list("QUILL_TEST_LIST") == ["a.example", "b.example"]
    assert env.env_list("QUILL_TEST_UNSET", ["x"]) == ["x"]


# --- every variable is documented ---------------------------------------------------------------

_READ = re.compile(r"(?:env_(?:str|bool|int|float|list|choice)|read_secret)\(\s*\"([A-Z0-9_]+)\"")


def _variables_read_by_settings() -> set[str]:
    return set(_READ.findall((REPO / "quill" / "settings.py").read_text()))


def test_settings_reads_variables():
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "QUILL_ENV"} <= _variables_read_by_settings()


@pytest.mark.parametrize("document", ["docs/configuration.md", ".env.example"])
def test_every_settings_variable_is_documented(document):
    text = (REPO / document).read_text()
    missing = sorted(name for name in _variables_read_by_settings() if not re.search(rf"\b{name}\b", text))
    assert missing == []
