"""Secrets from the environment or from files (the Docker and Kubernetes `<NAME>_FILE` convention).

Every secret setting is read with `read_secret("NAME")`: the value of `NAME`, or the contents
of the file that `NAME_FILE` names (one trailing newline removed). Setting both is refused at
start-up, as is a `_FILE` Quill cannot read or that is empty. Every secret read is remembered
so that `redact()` can take it out of log lines, error reports and `check_services` output,
and the names given directly in the environment are kept for the `check --deploy` warning
(quill.W002): in production a secret belongs in a file, not in the process environment that
`docker inspect`, `/proc/<pid>/environ` and crash reporters show.

Other parts of Quill (the mail intake's IMAP password, for instance) read their secrets the
same way: `from quill.secrets import read_secret; password = read_secret("QUILL_IMAP_PASSWORD")`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

REDACTED = "********"
# Shorter values (a user name like "quill", a port) would blank out ordinary words.
_SHORTEST_REDACTED = 6

_lock = threading.Lock()
_known_values: set[str] = set()
_given_in_environment: set[str] = set()


def read_secret(
    name: str, default: str = "", *, environ: Mapping[str, str] | None = None, sensitive: bool = True
) -> str:
    """The secret `name` from `name` or from the file `name_FILE` names; `default` when neither is set.

    `sensitive=False` is for the parts of a credential that are not secret themselves (a user
    name): they may come from a file too, but are not taken out of logs.
    """
    environ = os.environ if environ is None else environ
    direct = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if direct not in (None, "") and file_name not in (None, ""):
        raise ImproperlyConfigured(
            f"{name} and {name}_FILE are both set. Set only one: {name}_FILE (a file holding the secret, "
            f"as Docker and Kubernetes mount them) or {name} itself."
        )
    if file_name:
        value = _read_file(name, Path(file_name))
    elif direct:
        value = direct
        if sensitive and not _url_without_password(value):  # postgres://quill@db/quill holds no secret
            with _lock:
                _given_in_environment.add(name)
    else:
        value = default
    if sensitive and value:
        remember(value)
    return value


def _url_without_password(value: str) -> bool:
    if "://" not in value:
        return False
    try:
        return urlsplit(value).password is None
    except ValueError:
        return False


def _read_file(name: str, path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}_FILE names {path}, which Quill cannot read ({error.strerror or error}). "
            "Check that the secret is mounted there and readable by Quill's user."
        ) from error
    except UnicodeDecodeError as error:
        raise ImproperlyConfigured(f"{name}_FILE names {path}, which is not UTF-8 text.") from error
    value = text.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise ImproperlyConfigured(f"{name}_FILE names {path}, which is empty.")
    return value


def remember(value: str) -> None:
    """Treat `value` as secret from now on (redact() hides it); URLs also hide their password."""
    candidates = {value}
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            candidates.add(password)
    with _lock:
        _known_values.update(candidate for candidate in candidates if len(candidate) >= _SHORTEST_REDACTED)


def with_password(url: str, password: str) -> str:
    """`url` with `password` as its password (a Redis URL whose password is kept in a file).

    A URL that carries a password of its own keeps it; `password` empty leaves `url` as it is.
    """
    if not password or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password:
        return url
    userinfo = f"{quote(parts.username or '', safe='')}:{quote(password, safe='')}@"
    host = parts.netloc.rsplit("@", 1)[-1]
    combined = urlunsplit((parts.scheme, userinfo + host, parts.path, parts.query, parts.fragment))
    remember(combined)
    return combined


def given_in_environment() -> list[str]:
    """The secrets read from a variable rather than a file, in name order (for quill.W002)."""
    with _lock:
        return sorted(_given_in_environment)


def redact(text: str) -> str:
    """`text` with every known secret value, and any URL's password, replaced by REDACTED."""
    if not text:
        return text
    with _lock:
        values = sorted(_known_values, key=len, reverse=True)  # a URL before the password inside it
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", text)


# scheme://user:password@host -- the password of any URL, known or not (a broker URL in a Celery error).
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)


def contains_secret(value: Any) -> bool:
    """Whether `value` (or its repr) shows a known secret."""
    text = value if isinstance(value, str) else _safe_repr(value)
    return redact(text) != text


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break an error report
        return ""
