"""Parsing FHIR search requests for ``/fhir/r4/`` into plain criteria (no database here).

A parameter Quill does not implement is never silently ignored: an unfiltered answer to
a filtered question is how a document gets filed against the wrong patient. By default
(FHIR's lenient handling) it is left out of the ``self`` link and named in a warning
OperationOutcome inside the Bundle (``SearchRequest.ignored``); with
``Prefer: handling=strict`` it is a 400. A *modifier* Quill does not implement on a
known parameter (``status:not=current``) is always refused, because ignoring it would
turn the query's meaning around. A bad value of a known parameter is a 400.

Each resource's parameters are one table (``DOCUMENT_SEARCH``, ``PATIENT_SEARCH``, ``LIST_SEARCH``): a
parameter is added by adding a ``Param`` here, its condition in ``selectors.py`` and its
CapabilityStatement entry in ``responder.py`` (a test keeps the three in step).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList
from fhir.resources.R4B.patient import Patient
from pydantic import BaseModel

from apps.fhir.errors import InvalidSearchParameter

from . import codes
from .responder import MAX_PAGE_SIZE, parse_date_param, parse_token_param

DEFAULT_PAGE_SIZE = 20
CURSOR_PARAM = "_cursor"
# Result parameters: they shape the answer rather than filter it.
SUMMARY_VALUES = frozenset({"true", "false", "text", "data", "count"})
# Format parameters, answered by content negotiation (formats.py), not by the search.
FORMAT_PARAMS = frozenset({"_format", "_pretty"})

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


class SortKey(NamedTuple):
    """One ``_sort`` rule: a sortable search parameter, descending when sent as ``-name``."""

    name: str
    descending: bool = False

    def __str__(self) -> str:
        return f"-{self.name}" if self.descending else self.name


@dataclass(frozen=True)
class Param:
    """A search parameter Quill implements: how one alternative of its value is read, which modifiers it takes.

    ``by_modifier`` reads the value differently under a modifier (``related:identifier`` takes
    a token where ``related`` takes a reference); a modifier not listed there uses ``parse``.
    """

    parse: Callable[[str], Any]
    modifiers: frozenset[str] = frozenset()
    by_modifier: dict[str, Callable[[str], Any]] = field(default_factory=dict)

    def parse_for(self, modifier: str) -> Callable[[str], Any]:
        return self.by_modifier.get(modifier, self.parse)


@dataclass(frozen=True)
class ResourceSearch:
    """What a resource type can be searched by, sorted by and include."""

    resource_type: str
    model: type[BaseModel]
    params: dict[str, Param]
    sorts: frozenset[str]
    default_sort: tuple[SortKey, ...]
    # "Source:param" -> the resource types its target may be (the optional third part of an _include).
    includes: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRequest:
    """What to match (every clause must hold), how to shape and page it, and what was not applied (lenient)."""

    resource_type: str
    clauses: tuple[Clause, ...]
    count: int = DEFAULT_PAGE_SIZE
    sort: tuple[SortKey, ...] = ()
    summary: str | None = None
    elements: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    cursor: str | None = None
    ignored: tuple[str, ...] = ()

    @property
    def only_total(self) -> bool:
        """``_summary=count`` or ``_count=0``: the total, no entries, no paging links."""
        return self.summary == "count" or self.count == 0

    def criteria(self) -> str:
        """The canonical form of what is matched and in which order: a cursor is valid for this alone."""
        pairs = [(clause.param, clause.raw) for clause in self.clauses]
        if self.sort:
            pairs.append(("_sort", ",".join(str(key) for key in self.sort)))
        return urlencode(pairs, safe="|:/,")

    def query(self, *, cursor: str | None = None) -> str:
        """The canonical query string of this search (only applied parameters), for Bundle links."""
        pairs = [(clause.param, clause.raw) for clause in self.clauses]
        if self.sort:
            pairs.append(("_sort", ",".join(str(key) for key in self.sort)))
        pairs.append(("_count", str(self.count)))
        if self.summary:
            pairs.append(("_summary", self.summary))
        if self.elements:
            pairs.append(("_elements", ",".join(self.elements)))
        pairs.extend(("_include", include) for include in self.includes)
        if cursor:
            pairs.append((CURSOR_PARAM, cursor))
        return urlencode(pairs, safe="|:/,")

    def as_details(self) -> dict[str, list[str]]:
        """The criteria for the audit event."""
        details: dict[str, list[str]] = {}
        for clause in self.clauses:
            details.setdefault(clause.param, []).append(clause.raw)
        if self.sort:
            details["_sort"] = [str(key) for key in self.sort]
        if self.includes:
            details["_include"] = list(self.includes)
        if self.ignored:
            details["ignored"] = list(self.ignored)
        return details

    def values_of(self, name: str) -> list[tuple[Any, ...]]:
        return [clause.values for clause in self.clauses if clause.name == name]


def parse_search(search: ResourceSearch, params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a search of ``search.resource_type``; ``params`` are the request's (name, value) pairs."""
    clauses: list[Clause] = []
    ignored: list[str] = []
    shape: dict[str, Any] = {"count": DEFAULT_PAGE_SIZE, "includes": []}

    def not_applied(name: str) -> None:
        if strict:
            raise InvalidSearchParameter(f"The search parameter {name!r} is not supported here.", parameter=name)
        if name not in ignored:
            ignored.append(name)

    for name, value in params:
        base, _, modifier = name.partition(":")
        if name in FORMAT_PARAMS:
            continue
        if name in _RESULT_PARAMS:
            _RESULT_PARAMS[name](search, value, shape, not_applied)
        elif name == "_offset":
            raise InvalidSearchParameter(
                "Quill pages with cursors, not offsets: follow the Bundle's 'next' and 'previous' links.",
                parameter=name,
            )
        elif base in search.params:
            rule = search.params[base]
            if modifier and modifier not in rule.modifiers:
                raise InvalidSearchParameter(f"The modifier ':{modifier}' is not supported on {base}.", parameter=name)
            if value == "":
                continue  # FHIR: an empty parameter value is ignored
            try:
                values = tuple(rule.parse_for(modifier)(item) for item in _split_or(value))
            except InvalidSearchParameter as exc:
                raise InvalidSearchParameter(exc.message, parameter=name, value=value) from exc
            if modifier and rule.modifiers & STRING_MODIFIERS:
                values = tuple(StringParam(item.value, modifier) for item in values)
            clauses.append(Clause(base, values, value, modifier))
        else:
            not_applied(name)
    if shape.get("summary") == "text" and shape["includes"]:
        raise InvalidSearchParameter("_include cannot be combined with _summary=text.", parameter="_summary")
    return SearchRequest(
        resource_type=search.resource_type,
        clauses=tuple(clauses),
        count=shape["count"],
        sort=shape.get("sort", ()),
        summary=shape.get("summary"),
        elements=shape.get("elements", ()),
        includes=tuple(shape["includes"]),
        cursor=shape.get("cursor"),
        ignored=tuple(ignored),
    )


def parse_document_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``DocumentReference`` search (ITI-67)."""
    return parse_search(DOCUMENT_SEARCH, params, strict=strict)


def parse_patient_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``Patient`` search (PDQm-style demographics and identifiers)."""
    return parse_search(PATIENT_SEARCH, params, strict=strict)


def parse_list_search(params: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    """Parse a ``List`` search (ITI-66 Find Document Lists: SubmissionSets)."""
    return parse_search(LIST_SEARCH, params, strict=strict)


def parse_elements(model: type[BaseModel], value: str) -> tuple[str, ...]:
    """``_elements``: top-level element names of the resource, each checked against its definition."""
    names = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    known = {info.alias or name for name, info in model.model_fields.items() if not name.endswith("__ext")}
    unknown = [name for name in names if name not in known or name in {"fhir_comments", "resourceType"}]
    if not names or unknown:
        raise InvalidSearchParameter(
            f"_elements names top-level elements of the resource; {', '.join(unknown) or 'nothing'} is not one.",
            parameter="_elements",
            value=value,
        )
    return names


def parse_summary(value: str) -> str:
    summary = value.strip()
    if summary not in SUMMARY_VALUES:
        raise InvalidSearchParameter(
            f"_summary must be one of {', '.join(sorted(SUMMARY_VALUES))}.", parameter="_summary", value=value
        )
    return summary


# --- Result parameters ---------------------------------------------------------------------------


def _count(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    shape["count"] = _non_negative_int("_count", value, at_most=MAX_PAGE_SIZE)


def _sort(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    keys: list[SortKey] = []
    for item in (part.strip() for part in value.split(",")):
        key = SortKey(item[1:], True) if item.startswith("-") else SortKey(item)
        if key.name not in search.sorts:
            raise InvalidSearchParameter(
                f"{search.resource_type} can be sorted by {', '.join(sorted(search.sorts))} "
                f"(prefix '-' for descending), not {item!r}.",
                parameter="_sort",
                value=value,
            )
        if key.name not in {existing.name for existing in keys}:
            keys.append(key)
    shape["sort"] = tuple(keys)


def _summary(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    shape["summary"] = parse_summary(value)


def _elements(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    shape["elements"] = parse_elements(search.model, value)


def _include(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    include = value.strip()
    source, _, target = include.rpartition(":") if include.count(":") == 2 else (include, "", "")
    if source in search.includes and (not target or target in search.includes[source]):
        if include not in shape["includes"]:
            shape["includes"].append(include)
    else:
        not_applied(f"_include={value}")


def _cursor(search: ResourceSearch, value: str, shape: dict[str, Any], not_applied: Callable[[str], None]) -> None:
    shape["cursor"] = value


_RESULT_PARAMS: dict[str, Callable[[ResourceSearch, str, dict[str, Any], Callable[[str], None]], None]] = {
    "_count": _count,
    "_sort": _sort,
    "_summary": _summary,
    "_elements": _elements,
    "_include": _include,
    CURSOR_PARAM: _cursor,
}


# --- Parameter values ----------------------------------------------------------------------------


def _non_negative_int(name: str, value: str, *, at_most: int) -> int:
    """A whole number of 0 or more, capped at `at_most`.

    ASCII digits only ("²" is a digit to ``str.isdigit`` but not to ``int``); a longer number
    is capped before ``int`` sees it, which refuses thousands of digits.
    """
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidSearchParameter(f"{name} must be a whole number of 0 or more.", parameter=name, value=value)
    return at_most if len(digits) > len(str(at_most)) else min(int(digits), at_most)


def _document_status(value: str) -> Any:
    token = parse_token_param(value)
    if token.code not in codes.DOCUMENT_REFERENCE_STATUSES:
        raise InvalidSearchParameter(f"status must be one of {sorted(codes.DOCUMENT_REFERENCE_STATUSES)}.")
    return token


def _list_status(value: str) -> Any:
    token = parse_token_param(value)
    if token.code not in LIST_STATUSES:
        raise InvalidSearchParameter(f"status must be one of {sorted(LIST_STATUSES)}.")
    return token


def _gender(value: str) -> Any:
    token = parse_token_param(value)
    if token.system not in (None, codes.ADMINISTRATIVE_GENDER_SYSTEM) or token.code not in codes.ADMINISTRATIVE_GENDERS:
        raise InvalidSearchParameter(f"gender must be one of {sorted(codes.ADMINISTRATIVE_GENDERS)}.")
    return token


def _string(value: str) -> StringParam:
    text = value.replace("\\,", ",").strip()
    if not text:
        raise InvalidSearchParameter("A string parameter needs some text to match.")
    return StringParam(text)


def _content_text(value: str) -> str:
    text = value.replace("\\,", ",").strip()
    if not text or len(text) > 200:
        raise InvalidSearchParameter("_content needs words to find in the documents' text (at most 200 characters).")
    return text


def _related_reference(value: str) -> str:
    """``related`` (a reference): kept as sent; ``related:identifier`` reads a token instead."""
    return value.strip()


def _patient_reference(value: str) -> uuid.UUID | None:
    """The Quill patient id in ``<id>``, ``Patient/<id>`` or ``…/Patient/<id>``; None if it cannot be one."""
    match = _PATIENT_REFERENCE.match(value.strip())
    if match is None:
        raise InvalidSearchParameter(
            "patient must be a Patient reference: <id>, Patient/<id> or an absolute Patient URL."
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


# --- The tables ----------------------------------------------------------------------------------

TOKEN = Param(parse_token_param)
DATE = Param(parse_date_param)
# FHIR string search: starts-with, case-insensitive, unless :exact or :contains.
STRING_MODIFIERS = frozenset({"exact", "contains"})
STRING = Param(_string, modifiers=STRING_MODIFIERS)
# ITI-66: the List statuses FHIR defines (a received SubmissionSet is always current).
LIST_STATUSES = frozenset({"current", "retired", "entered-in-error"})

DOCUMENT_SEARCH = ResourceSearch(
    resource_type="DocumentReference",
    model=DocumentReference,
    params={
        "_id": TOKEN,
        "identifier": TOKEN,
        "patient": Param(_patient_reference),
        "patient.identifier": TOKEN,
        "status": Param(_document_status),
        "category": TOKEN,
        "type": TOKEN,
        # date and _lastUpdated are instants; creation (attachment.creation) and period (context.period)
        # are the document's clinical date.
        "date": DATE,
        "_lastUpdated": DATE,
        "creation": DATE,
        "period": DATE,
        # MHD ITI-67: the contained author's name parts, and the codes from the organisation's MHD settings.
        "author.given": STRING,
        "author.family": STRING,
        "event": TOKEN,
        "facility": TOKEN,
        "setting": TOKEN,
        "security-label": TOKEN,
        "format": TOKEN,
        # Words in the documents' text (docs/search.md): web search syntax, matched page by page.
        "_content": Param(_content_text),
        # A reference, or with :identifier a token (the encounter's identifier).
        "related": Param(
            _related_reference, modifiers=frozenset({"identifier"}), by_modifier={"identifier": parse_token_param}
        ),
    },
    sorts=frozenset({"date", "creation", "period", "_lastUpdated", "_id"}),
    default_sort=(SortKey("date", descending=True),),
    # An author is a contained resource (already inside each DocumentReference), so including it adds no entry.
    includes={
        "DocumentReference:subject": frozenset({"Patient"}),
        "DocumentReference:author": frozenset(
            {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device"}
        ),
    },
)

PATIENT_SEARCH = ResourceSearch(
    resource_type="Patient",
    model=Patient,
    params={
        "_id": TOKEN,
        "identifier": TOKEN,
        "family": STRING,
        "given": STRING,
        "name": STRING,
        "birthdate": DATE,
        "gender": Param(_gender),
        "_lastUpdated": DATE,
    },
    sorts=frozenset({"family", "given", "birthdate", "_lastUpdated", "_id"}),
    default_sort=(SortKey("family"), SortKey("given")),
)

# ITI-66 Find Document Lists: the SubmissionSets received by ITI-65 (Quill keeps no Folders).
LIST_SEARCH = ResourceSearch(
    resource_type="List",
    model=FhirList,
    params={
        "_id": TOKEN,
        "patient": Param(_patient_reference),
        "patient.identifier": TOKEN,
        "code": TOKEN,
        "status": Param(_list_status),
        "identifier": TOKEN,
        # date is when the source submitted it; _lastUpdated when Quill received it.
        "date": DATE,
        "_lastUpdated": DATE,
    },
    sorts=frozenset({"date", "_lastUpdated", "_id"}),
    default_sort=(SortKey("_lastUpdated", descending=True),),
)

SEARCHES = {search.resource_type: search for search in (DOCUMENT_SEARCH, PATIENT_SEARCH, LIST_SEARCH)}
