"""A source's configuration: what the admin refuses, and the password kept out of the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.inbox.models import IntakeSource, SourceKind
from apps.inbox.sources.checks import read_secret_file

pytestmark = pytest.mark.django_db


def _imap(organisation, **fields):
    values = {
        "organisation": organisation,
        "name": "NHSmail",
        "kind": SourceKind.IMAP,
        "imap_host": "mail.example.org",
        "imap_username": "clinic@example.org",
        "imap_password_file": "/run/secrets/imap_password",
    }
    return IntakeSource(**{**values, **fields})


def test_imap_source_with_tls_is_valid(organisation):
    _imap(organisation).full_clean()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"imap_tls": False}, "imap_tls"),
        ({"imap_password_file": ""}, "imap_password_file"),
        ({"imap_host": ""}, "imap_host"),
        ({"imap_processed_folder": "INBOX"}, "imap_processed_folder"),
    ],
    ids=["remote-without-tls", "no-password-file", "no-host", "processed-is-inbox"],
)
def test_unusable_imap_source_is_refused(organisation, fields, field):
    with pytest.raises(ValidationError) as caught:
        _imap(organisation, **fields).full_clean()
    assert field in caught.value.message_dict


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_tls_may_be_off_for_a_server_on_this_machine(organisation, host):
    _imap(organisation, imap_tls=False, imap_host=host).full_clean()


@pytest.mark.parametrize(("path", "ok"), [("", False), ("relative/scans", False), ("/srv/scans", True)])
def test_folder_source_needs_a_full_path(organisation, path, ok):
    source = IntakeSource(organisation=organisation, name="Scanner", kind=SourceKind.FOLDER, folder_path=path)
    if ok:
        source.full_clean()
    else:
        with pytest.raises(ValidationError):
            source.full_clean()


def test_password_comes_from_the_secrets_file_without_its_newline(tmp_path):
    secret = tmp_path / "imap_password"
    secret.write_text("s3cret-value\n")
    assert read_secret_file(str(secret)) == "s3cret-value"
    assert "password" not in {field.name for field in IntakeSource._meta.fields} - {"imap_password_file"}
