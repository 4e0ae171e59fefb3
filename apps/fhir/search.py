"""Parsing FHIR search requests for ``/fhir/r4/`` into plain criteria (no database here).

A parameter Quill does not implement is never silently ignored: an unfiltered answer to
a filtered question is how a document gets filed against the wrong patient. By default
(FHIR's lenient handling) it is left out of the ``self`` link and named in a warning
OperationOutcome inside the Bundle (``SearchRequest.ignored``); with
``Prefer: handling=strict`` it is a 400. A *modifier* Quill does not implement on a
known parameter (``status:not=current``) is always refused, because ignoring it would
turn the query's meaning around. A bad value of a known parameter is a 400.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlencode

from apps.fhir.errors import InvalidSearchParameter

from . import codes
from .responder import MAX_PAGE_SIZE, parse_date_param, parse_token_param

DEFAULT_PAGE_SIZE = 20
OFFSET_PARAM = "_offset"
MAX_OFFSET = 10**9  # far past any organisation's records: a later page is simply empty

DOCUMENT_TOKEN_PARAMS = frozenset(
    {
        "_id",
        "identifier",
        "patient.identifier",
        "status",
        "category",
        "type",
        "event",
        "facility",
        "setting",
        "security-label",
        "format",
    }
)
# date and _lastUpdated are instants; creation (attachment.creation) and period (context.period) are the
# document's clinical date.
DOCUMENT_DATE_PARAMS = frozenset({"date", "_lastUpdated", "creation", "period"})
# The contained author's name parts (MHD ITI-67 author.given / author.family).
DOCUMENT_STRING_PARAMS = frozenset({"author.given", "author.family"})
DOCUMENT_PARAMS = DOCUMENT_TOKEN_PARAMS | DOCUMENT_DATE_PARAMS | DOCUMENT_STRING_PARAMS | {"patient", "related"}
# ITI-66 Find Document Lists (SubmissionSets).
LIST_PARAMS = frozenset({"_id", "patient", "patient.identifier", "code", "status", "identifier", "date"})
LIST_STATUSES = frozenset({"current", "retired", "entered-in-error"})
PATIENT_STRING_PARAMS = frozenset({"family", "given", "name"})
PATIENT_PARAMS = frozenset({"identifier", "_id", "birthdate", "gender"}) | PATIENT_STRING_PARAMS
STRING_PARAMS = PATIENT_STRING_PARAMS | DOCUMENT_STRING_PARAMS
# FHIR string search: starts-with, case-insensitive, unless :exact or :contains.
STRING_MODIFIERS = frozenset({"exact", "contains"})
# The modifiers Quill implements, by parameter; any other modifier is refused.
PARAM_MODIFIERS: dict[str, frozenset[str]] = dict.fromkeys(STRING_PARAMS, STRING_MODIFIERS) | {
    "related": frozenset({"identifier"}),
}
# Result parameters that shape the page rather than filter it.
PAGING_PARAMS = frozenset({"_count", OFFSET_PARAM})
# Format parameters every FHIR server understands; Quill only speaks JSON.
FORMAT_PARAMS = frozenset({"_format", "_pretty"})
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})

_PATIENT_REFERENCE = re.compile(r"^(?:(?:https?://[^?#]+/)?Patient/)?(?P<id>[A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True)
class Clause:
    """One search parameter occurrence: its parsed alternatives (OR) and the raw text (for links)."""

    name: str
    values: tuple[Any, ...]
    raw: str
    modifier: str = ""

    @property
    def param(self) -> str:
        """The parameter as it was sent, modifier included (``family:exact``)."""
        return f"{self.name}:{self.modifier}" if self.modifier else self.name


class StringParam(NamedTuple):
    """A FHIR string search value and how it matches: ``""`` (starts with), ``exact`` or ``contains``."""

    value: str
    modifier: str = ""


@dataclass(frozen=True)
class SearchRequest:
    """What to match (every clause must hold), which page, and what was not applied (lenient handling)."""

    clauses: tuple[Clause, ...]
    count: int
    offset: int
    ignored: tuple[str, ...] = ()

    def query(self, *, offset: int | None = None) -> str:
        """The canonical query string of this search (only applied parameters), for Bundle links."""
        pairs = [(clause.param, clause.raw) for clause in self.clauses]
        pairs.append(("_count", str(self.count)))
        page_offset = self.offset if offset is None else offset
        if page_offset:
            pairs.append((OFFSET_PARAM, str(page_offset)))
        return urlencode(pairs, safe="|:/,")

    def as_details(self) -> dict[str, list[str]]:
        """The criteria for the audit event."""
        details: dict[str, list[str]] = {}
        for clause in self.clauses:
            details.setdefault(clause.param, []).append(clause.raw)
        if self.ignored:
            details["ignored"] = list(self.ignored)
        return details

    def values_of(self, name: str) -> list[tuple[Any, ...]]:
        return [clause.values for clause in self.clauses if clause.name == name]


def parse_document_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``DocumentReference`` search (ITI-67); ``params`` are the query's (name, value) pairs."""
    return _parse(params, known=DOCUMENT_PARAMS, parse_value=_document_value, strict=strict)


def parse_patient_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``Patient`` search: identifier, _id, family, given, name, birthdate, gender."""
    return _parse(params, known=PATIENT_PARAMS, parse_value=_patient_value, strict=strict)


def parse_list_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``List`` search (ITI-66): patient, patient.identifier, code, status, identifier, date."""
    return _parse(params, known=LIST_PARAMS, parse_value=_list_value, strict=strict)


def wants_fhir_json(accept: str, format_param: str | None) -> bool:
    """Whether a Binary read asks for a FHIR ``Binary`` resource rather than the raw bytes."""
    if format_param:
        return format_param.strip().lower() in JSON_FORMATS
    for part in (accept or "").split(","):
        media_type, _, parameters = part.partition(";")
        if media_type.strip().lower() in JSON_FORMATS - {"json"} and not re.search(r"\bq=0(?:\.0*)?\s*$", parameters):
            return True
    return False


# --- Internals -----------------------------------------------------------------------------------


def _parse(params: Iterable[tuple[str, str]], *, known: frozenset[str], parse_value, strict: bool) -> SearchRequest:
    clauses: list[Clause] = []
    ignored: list[str] = []
    count, offset = DEFAULT_PAGE_SIZE, 0
    for name, value in params:
        base, _, modifier = name.partition(":")
        if name == "_count":
            count = _non_negative_int(name, value, at_most=MAX_PAGE_SIZE)
        elif name == OFFSET_PARAM:
            offset = _non_negative_int(name, value, at_most=MAX_OFFSET)
        elif name in FORMAT_PARAMS:
            if name == "_format" and value.strip().lower() not in JSON_FORMATS:
                raise InvalidSearchParameter(f"Quill serves FHIR as JSON only, not {value!r}.", parameter=name)
        elif base in known and modifier and modifier not in PARAM_MODIFIERS.get(base, ()):
            raise InvalidSearchParameter(f"The modifier ':{modifier}' is not supported on {base}.", parameter=name)
        elif base in known:
            if value == "":
                continue  # FHIR: an empty parameter value is ignored
            values = parse_value(base, value, modifier)
            if base in STRING_PARAMS:
                values = tuple(StringParam(item, modifier) for item in values)
            clauses.append(Clause(base, values, value, modifier))
        elif strict:
            raise InvalidSearchParameter(f"The search parameter {name!r} is not supported here.", parameter=name)
        elif name not in ignored:
            ignored.append(name)
    return SearchRequest(tuple(clauses), count, offset, tuple(ignored))


def _non_negative_int(name: str, value: str, *, at_most: int) -> int:
    """A whole number of 0 or more, capped at `at_most`.

    ASCII digits only ("²" is a digit to ``str.isdigit`` but not to ``int``); a longer number
    is capped before ``int`` sees it, which refuses thousands of digits, and before SQL, whose
    OFFSET would overflow.
    """
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidSearchParameter(f"{name} must be a whole number of 0 or more.", parameter=name, value=value)
    return at_most if len(digits) > len(str(at_most)) else min(int(digits), at_most)


def _document_value(name: str, value: str, modifier: str = "") -> tuple[Any, ...]:
    if name in DOCUMENT_DATE_PARAMS:
        return tuple(parse_date_param(item) for item in _split_or(value))
    if name == "patient":
        return tuple(_patient_reference(item) for item in _split_or(value))
    if name in DOCUMENT_STRING_PARAMS:
        return _strings(name, value)
    if name == "related" and not modifier:
        return tuple(item.strip() for item in _split_or(value))  # references: related:identifier takes tokens
    tokens = tuple(parse_token_param(item) for item in _split_or(value))
    if name == "status":
        for token in tokens:
            if token.code not in codes.DOCUMENT_REFERENCE_STATUSES:
                raise InvalidSearchParameter(
                    f"status must be one of {sorted(codes.DOCUMENT_REFERENCE_STATUSES)}.", parameter=name, value=value
                )
    return tokens


def _list_value(name: str, value: str, modifier: str = "") -> tuple[Any, ...]:
    if name == "date":
        return tuple(parse_date_param(item) for item in _split_or(value))
    if name == "patient":
        return tuple(_patient_reference(item) for item in _split_or(value))
    tokens = tuple(parse_token_param(item) for item in _split_or(value))
    if name == "status" and any(token.code not in LIST_STATUSES for token in tokens):
        raise InvalidSearchParameter(f"status must be one of {sorted(LIST_STATUSES)}.", parameter=name, value=value)
    return tokens


def _strings(name: str, value: str) -> tuple[str, ...]:
    strings = tuple(item.replace("\\,", ",").strip() for item in _split_or(value))
    if not all(strings):
        raise InvalidSearchParameter(f"{name} needs some text to match.", parameter=name, value=value)
    return strings


def _patient_value(name: str, value: str, modifier: str = "") -> tuple[Any, ...]:
    if name == "birthdate":
        return tuple(parse_date_param(item) for item in _split_or(value))
    if name in PATIENT_STRING_PARAMS:
        return _strings(name, value)
    tokens = tuple(parse_token_param(item) for item in _split_or(value))
    if name == "gender":
        for token in tokens:
            if token.system not in (None, codes.ADMINISTRATIVE_GENDER_SYSTEM) or token.code not in (
                codes.ADMINISTRATIVE_GENDERS
            ):
                raise InvalidSearchParameter(
                    f"gender must be one of {sorted(codes.ADMINISTRATIVE_GENDERS)}.", parameter=name, value=value
                )
    return tokens


def _patient_reference(value: str) -> uuid.UUID | None:
    """The Quill patient id in ``<id>``, ``Patient/<id>`` or ``…/Patient/<id>``; None if it cannot be one."""
    match = _PATIENT_REFERENCE.match(value.strip())
    if match is None:
        raise InvalidSearchParameter(
            "patient must be a Patient reference: <id>, Patient/<id> or an absolute Patient URL.",
            parameter="patient",
            value=value,
        )
    return as_uuid(match["id"])


def as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError):
        return None


def _split_or(value: str) -> list[str]:
    """Split a parameter value on commas (OR), keeping escaped ``\\,``."""
    parts = re.split(r"(?<!\\),", value)
    return [part for part in parts if part != ""] or [value]
