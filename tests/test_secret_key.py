"""A development installation's own secret key, and a public key served to this computer only."""

from __future__ import annotations

import multiprocessing
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.commands import runserver as django_runserver
from django.test import Client

from quill import secret_key
from quill.system_checks import public_key_beyond_loopback

PUBLIC = secret_key.PUBLIC_DEVELOPMENT_KEY
PRIVATE = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"


def test_an_installation_makes_its_key_once_and_keeps_it_private(tmp_path):
    key = secret_key.installation_key(tmp_path)
    assert not secret_key.is_public(key)
    path = tmp_path / secret_key.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key.installation_key(tmp_path) == key  # read back, not made again
    assert secret_key.installation_key(tmp_path / "elsewhere") != key  # each installation its own
    assert sorted(item.name for item in tmp_path.iterdir()) == ["elsewhere", secret_key.KEY_FILE]  # no leftovers


def test_processes_starting_together_agree_on_one_key(tmp_path):
    with multiprocessing.get_context("fork").Pool(6) as pool:
        keys = pool.map(secret_key.installation_key, [tmp_path] * 12)
    assert len(set(keys)) == 1
    assert (tmp_path / secret_key.KEY_FILE).read_text().strip() == keys[0]


def test_a_var_dir_that_cannot_be_written_stops_start_up_with_advice(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(ImproperlyConfigured, match="set DJANGO_SECRET_KEY to a long random value"):
        secret_key.installation_key(blocker / "var")


@pytest.mark.parametrize(
    ("key", "public"),
    [
        pytest.param(PUBLIC, True, id="old-development-key"),
        pytest.param("django-insecure-" + "x1y2z3" * 10, True, id="django-placeholder"),
        pytest.param("short-key", True, id="short"),
        pytest.param("ab" * 40, True, id="repetitive"),
        pytest.param(PRIVATE, False, id="long-random"),
    ],
)
def test_public_keys(key, public):
    assert secret_key.is_public(key) is public


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("quill.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("*", False),
        (".example.org", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert secret_key.is_loopback(host) is loopback


# --- the three guards --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hosts", "refused"),
    [
        pytest.param(PUBLIC, ["*"], True, id="public-key-any-host"),
        pytest.param(PUBLIC, ["localhost", "192.0.2.7"], True, id="public-key-lan-address"),
        pytest.param(PUBLIC, ["127.0.0.1", "localhost", "[::1]", "testserver"], False, id="public-key-loopback"),
        pytest.param(PRIVATE, ["*"], False, id="private-key-any-host"),
    ],
)
def test_system_check_refuses_a_public_key_with_other_host_names(settings, key, hosts, refused):
    settings.SECRET_KEY, settings.ALLOWED_HOSTS = key, hosts
    errors = public_key_beyond_loopback(None)
    assert [error.id for error in errors] == (["quill.E001"] if refused else [])


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """Where runserver would have started listening (Django's run() is replaced by a recorder)."""
    addresses: list[str] = []
    monkeypatch.setattr(django_runserver.Command, "run", lambda command, **options: addresses.append(command.addr))
    return addresses


@pytest.mark.parametrize("address", ["0.0.0.0:8000", "192.0.2.7:8000", "[::]:8000"])
def test_runserver_refuses_other_addresses_with_a_public_key(settings, started, address):
    settings.SECRET_KEY = PUBLIC
    with pytest.raises(CommandError, match="DJANGO_SECRET_KEY is a public or weak key"):
        call_command("runserver", address, "--skip-checks")
    assert started == []


@pytest.mark.parametrize(
    ("key", "address"),
    [(PUBLIC, "127.0.0.1:8000"), (PUBLIC, "localhost:8000"), (PUBLIC, "[::1]:8000"), (PRIVATE, "0.0.0.0:8000")],
)
def test_runserver_starts_on_loopback_or_with_a_private_key(settings, started, key, address):
    settings.SECRET_KEY = key
    call_command("runserver", address, "--skip-checks")
    assert len(started) == 1


@pytest.mark.parametrize(
    ("key", "remote", "headers", "status"),
    [
        pytest.param(PUBLIC, "127.0.0.1", {}, 200, id="public-key-this-computer"),
        pytest.param(PUBLIC, "192.0.2.7", {}, 403, id="public-key-another-computer"),
        pytest.param(PUBLIC, "127.0.0.1", {"HTTP_X_FORWARDED_FOR": "192.0.2.7"}, 403, id="public-key-via-proxy"),
        pytest.param(PRIVATE, "192.0.2.7", {}, 200, id="private-key-another-computer"),
    ],
)
def test_a_public_key_is_served_only_to_this_computer(settings, key, remote, headers, status):
    settings.SECRET_KEY = key
    response = Client(REMOTE_ADDR=remote, **headers).get("/healthz")
    assert response.status_code == status
    if status == 403:
        assert "DJANGO_SECRET_KEY is a public or weak key" in response.content.decode()
