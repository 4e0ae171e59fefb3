"""The secret key of a development installation, and where a public key may be served.

`DJANGO_SECRET_KEY` signs sessions' auth hashes, CSRF tokens and Quill's signed download
links. A key anyone can read (one written in the source, as Quill's development key once
was) lets anyone who can reach the server mint those links. So a development installation
without `DJANGO_SECRET_KEY` makes its own random key on first run and keeps it in
`QUILL_VAR_DIR/secret-key` (mode 0600), as `seed_demo` keeps the demo passwords; and a
public or weak key, if one is configured, is served only to this computer: `runserver`
refuses other addresses (quill/management/commands/runserver.py), the system check
`quill.E001` refuses other `ALLOWED_HOSTS`, and `LoopbackOnlyWithPublicKeyMiddleware`
refuses any request from elsewhere, whatever server runs Quill.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

KEY_FILE = "secret-key"
# The key development installations shared before keys were made per installation. It is in
# the source, so it is public: still refused in production and beyond loopback.
PUBLIC_DEVELOPMENT_KEY = "django-insecure-quill-development-only-key-do-not-use-in-production"
# Host names that only ever mean this computer (the test client's "testserver" is never resolved).
_LOCAL_NAMES = {"localhost", "testserver"}


def is_public(key: str) -> bool:
    """Whether `key` is known or weak: the old development key, Django's placeholder, or short or repetitive.

    The same rules as Django's `security.W009` and Quill's production start-up check.
    """
    return key == PUBLIC_DEVELOPMENT_KEY or key.startswith("django-insecure-") or len(key) < 50 or len(set(key)) < 5


def installation_key(var_dir: Path) -> str:
    """This installation's own random key, made on first run and kept in `var_dir/secret-key`.

    Several processes may start at once (web, workers, tests): the key is written to a
    private temporary file and linked into place, so exactly one key wins and every
    process reads that one.
    """
    path = var_dir / KEY_FILE
    try:
        key = _read(path)
        if key is None:
            key = _create(path)
    except OSError as error:
        raise ImproperlyConfigured(
            f"Quill could not keep its secret key in {path} ({error.strerror or error}). "
            "Make QUILL_VAR_DIR writable, or set DJANGO_SECRET_KEY to a long random value."
        ) from error
    if is_public(key):
        raise ImproperlyConfigured(f"{path} does not hold a usable secret key; delete it and Quill makes a new one.")
    return key


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)  # 64 characters
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process made the key first: use theirs
            return _read(path) or key
    finally:
        temporary.unlink(missing_ok=True)
    return key


def is_loopback(host: str, *, resolve: bool = False) -> bool:
    """Whether `host` (an address or a name) can only mean this computer.

    With `resolve`, a name counts if every address it resolves to is a loopback address
    (a bind to the machine's own host name, which its neighbours can reach, does not);
    without, only `localhost` names and loopback addresses count.
    """
    host = host.strip().strip("[]").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        if not resolve:
            return False
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses
    )


def refusal(*, where: str) -> str:
    """Why a public key must not be served `where`, and what to do instead."""
    return (
        f"DJANGO_SECRET_KEY is a public or weak key, and Quill would answer {where}. Anyone who has read "
        "the key can forge signed download links for this server. Unset DJANGO_SECRET_KEY (Quill then "
        "makes a random key for this installation in QUILL_VAR_DIR/secret-key) or set it to 50+ random "
        "characters; or serve only 127.0.0.1."
    )
