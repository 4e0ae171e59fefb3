"""What makes a source's configuration unusable, field by field, in words an administrator reads."""

from __future__ import annotations

import ipaddress
import os

from apps.inbox.models import IntakeSource, SourceKind

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _folder_problems(source: IntakeSource) -> dict[str, str]:
    if not source.folder_path:
        return {"folder_path": "A watched folder source needs the folder's path."}
    if not os.path.isabs(source.folder_path):
        return {"folder_path": "Give the folder's full path (starting with /)."}
    return {}


def _imap_problems(source: IntakeSource) -> dict[str, str]:
    problems = {}
    if not source.imap_host:
        problems["imap_host"] = "An IMAP source needs the mail server's host name."
    if not source.imap_username:
        problems["imap_username"] = "An IMAP source needs the mailbox's user name."
    if not source.imap_password_file:
        problems["imap_password_file"] = "Name the file holding the password (a mounted secret)."  # noqa: S105
    if not source.imap_tls and source.imap_host and not is_loopback(source.imap_host):
        problems["imap_tls"] = (
            "TLS is required for a mail server on another machine; turn it off only for a server on this one."
        )
    if source.imap_folder and source.imap_folder == source.imap_processed_folder:
        problems["imap_processed_folder"] = "The processed folder must differ from the folder Quill reads."
    return problems


def source_problems(source: IntakeSource) -> dict[str, str]:
    if source.kind == SourceKind.FOLDER:
        return _folder_problems(source)
    if source.kind == SourceKind.IMAP:
        return _imap_problems(source)
    return {}


def read_secret_file(path: str) -> str:
    """The secret in `path` without its trailing newline (as Docker and Kubernetes mount them)."""
    with open(path, encoding="utf-8") as handle:
        return handle.read().rstrip("\r\n")
