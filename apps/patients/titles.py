"""What a record's audit events name, in words: higher apps say how to title their objects.

The access report lists events about documents and letters, which live above patients
(docs/architecture.md, "Layering"). Documents and letters register, from their
AppConfig.ready(), a function that titles their objects by id; the report asks here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

TitleLookup = Callable[[list[str]], dict[str, str]]  # object ids -> their titles (only those found)
_LOOKUPS: dict[str, TitleLookup] = {}


def register_object_titles(object_type: str, lookup: TitleLookup) -> None:
    _LOOKUPS[object_type] = lookup


def object_titles(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Titles of (object_type, object_id) pairs, one query per type; unknown types and ids are left out."""
    wanted: dict[str, set[str]] = {}
    for object_type, object_id in pairs:
        if object_type in _LOOKUPS and object_id:
            wanted.setdefault(object_type, set()).add(object_id)
    titles: dict[tuple[str, str], str] = {}
    for object_type, ids in wanted.items():
        for object_id, title in _LOOKUPS[object_type](sorted(ids)).items():
            titles[(object_type, object_id)] = title
    return titles
