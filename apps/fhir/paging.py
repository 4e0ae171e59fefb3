"""Paging cursors for ``/fhir/r4/`` searches: keyset positions, signed and scoped.

An offset moves when a document is uploaded between two pages (an entry shows twice, or
one is skipped), so Quill pages by *position*: a cursor names the sort values and id of
the last row served (or the first, going back) and the *snapshot* instant of the first
page. Later pages take only rows that existed at the snapshot, so ``total`` stays put and
an upload in the meantime neither duplicates nor hides an entry.

A cursor is opaque to clients and tamper-evident: Django's signing (``SECRET_KEY``) over
the resource type, the caller's organisation, a digest of the search criteria and sort,
the snapshot and the position. A cursor changed, expired, used for another search or by
another organisation is a 400 ``invalid_cursor``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.core import signing

from apps.fhir.errors import InvalidCursor

_SALT = "quill.fhir.cursor"
# How long a paging link stays valid: long enough for any client's walk through the pages.
CURSOR_MAX_AGE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Cursor:
    """A position in a search: rows after ``key`` (or before it when ``backwards``), as of ``snapshot``."""

    snapshot: dt.datetime
    key: tuple[str, ...]
    backwards: bool = False


def cursor_token(*, cursor: Cursor, resource_type: str, organisation_id: Any, criteria: str) -> str:
    """The signed, URL-safe token for ``cursor`` (what the ``_cursor`` parameter of a link carries)."""
    payload = {
        "r": resource_type,
        "o": str(organisation_id),
        "c": _digest(criteria),
        "s": cursor.snapshot.isoformat(),
        "k": list(cursor.key),
        "b": 1 if cursor.backwards else 0,
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


def read_cursor(token: str, *, resource_type: str, organisation_id: Any, criteria: str) -> Cursor:
    """The cursor in ``token``; ``InvalidCursor`` unless Quill signed it for this search and organisation."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=CURSOR_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidCursor("This paging link has expired; run the search again.") from None
    except signing.BadSignature:
        raise InvalidCursor() from None
    if (
        not isinstance(payload, dict)
        or payload.get("r") != resource_type
        or payload.get("o") != str(organisation_id)
        or payload.get("c") != _digest(criteria)
    ):
        raise InvalidCursor()
    try:
        snapshot = dt.datetime.fromisoformat(payload["s"])
        key = tuple(str(value) for value in payload["k"])
    except (KeyError, TypeError, ValueError):
        raise InvalidCursor() from None
    return Cursor(snapshot=snapshot, key=key, backwards=bool(payload.get("b")))


def _digest(criteria: str) -> str:
    return hashlib.sha256(criteria.encode()).hexdigest()[:32]
