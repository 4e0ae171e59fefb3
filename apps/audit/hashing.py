"""Canonical form and hash of an audit event; shared by recording and verification."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

HASHED_FIELDS = (
    "chain",
    "sequence",
    "occurred_at",
    "organisation_id",
    "actor_id",
    "actor_username",
    "patient_id",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "details",
)


def _canonical_value(value: Any) -> Any:
    """A JSON value that survives a PostgreSQL jsonb round trip unchanged.

    jsonb keeps numbers as decimals, so 1e20 comes back as 100000000000000000000 and
    -0.0 as 0: integral floats are hashed as integers, or a stored event would no
    longer match its own hash. Keys become strings, as JSON makes them.
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(item) for item in value]
    return str(value)


def canonical_json(fields: dict[str, Any]) -> str:
    body = {name: _canonical_value(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json_around_sequence(fields: dict[str, Any]) -> tuple[str, str]:
    """The canonical JSON split where the sequence number goes: left + str(sequence) + right.

    For appending in one SQL statement, where the sequence is only known inside the
    database. Keys are sorted, so the top-level "sequence" is followed only by
    "user_agent", a string (its quotes escaped): the last occurrence of the marker is
    the top-level one, even if `details` holds keys of the same names.
    """
    text = canonical_json({**fields, "sequence": 0})
    left, marker, right = text.rpartition('"sequence":0,"user_agent":')
    if not marker:
        raise ValueError("canonical JSON without its sequence")
    return left + '"sequence":', ',"user_agent":' + right


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()
