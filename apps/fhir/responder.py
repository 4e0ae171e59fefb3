"""Pure helpers for Quill's own FHIR R4 endpoint (``/fhir/r4/``), an IHE MHD Document Responder.

Nothing here knows about Django: views call these to build the CapabilityStatement,
searchset Bundles and Binary resources, and to parse FHIR search parameters.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from apps.fhir.errors import InvalidSearchParameter
from quill.errors import ValidationFailed

from . import codes
from .mapping import validate_resource

DatePrefix = Literal["eq", "ge", "le", "gt", "lt"]
DATE_PREFIXES: frozenset[str] = frozenset({"eq", "ge", "le", "gt", "lt"})
# Prefixes FHIR defines that this endpoint does not support (answered with a clear error).
_UNSUPPORTED_PREFIXES = frozenset({"ne", "sa", "eb", "ap"})

MAX_PAGE_SIZE = 100

_DATE_RE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?$"
)


# --- CapabilityStatement ---------------------------------------------------------------------------


def _param(name: str, type_: str, definition: str | None, documentation: str) -> dict[str, str]:
    param = {"name": name, "type": type_, "documentation": documentation}
    if definition:
        param["definition"] = definition
    return param


_SP = "http://hl7.org/fhir/SearchParameter/"

# Result parameters both resources take (besides _sort, whose keys differ).
_RESULT_PARAMS: tuple[dict[str, str], ...] = (
    _param("_count", "number", None, f"Page size, at most {MAX_PAGE_SIZE}; 0 answers only the total."),
    _param(
        "_summary",
        "token",
        None,
        "true (summary elements), text, data, false, or count (the total only). Subsets are tagged SUBSETTED.",
    ),
    _param("_elements", "string", None, "Top-level elements to return (mandatory ones always come too)."),
)

DOCUMENT_REFERENCE_SEARCH_PARAMS: tuple[dict[str, str], ...] = (
    _param("_id", "token", _SP + "Resource-id", "The document's Quill UUID."),
    _param("_lastUpdated", "date", _SP + "Resource-lastUpdated", "When Quill last changed the document."),
    _param("identifier", "token", _SP + "DocumentReference-identifier", "urn:quill:document|<uuid>."),
    _param("patient", "reference", _SP + "clinical-patient", "Patient/<id>."),
    _param(
        "patient.identifier",
        "token",
        None,
        "Chained: the patient's NHS number (https://fhir.nhs.uk/Id/nhs-number|<number>) or MRN (urn:quill:mrn|<mrn>).",
    ),
    _param("status", "token", _SP + "DocumentReference-status", "current, superseded or entered-in-error."),
    _param("category", "token", _SP + "DocumentReference-category", "urn:quill:category|<category>."),
    _param("type", "token", _SP + "clinical-type", "LOINC or urn:quill:category code of the document type."),
    _param(
        "date",
        "date",
        _SP + "DocumentReference-date",
        "When Quill received the document; prefixes eq, ge, le, gt, lt; partial dates allowed; comma for OR.",
    ),
    _param(
        "creation",
        "date",
        "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation",
        "The document's clinical date (attachment.creation); prefixes eq, ge, le, gt, lt; comma for OR.",
    ),
    _param(
        "period",
        "date",
        _SP + "DocumentReference-period",
        "The document's clinical date (context.period); prefixes eq, ge, le, gt, lt; comma for OR.",
    ),
    _param(
        "author.given",
        "string",
        None,
        "Chained on the contained author: a given name of the clinician who filed the document "
        "(starts-with, :exact, :contains).",
    ),
    _param(
        "author.family",
        "string",
        None,
        "Chained on the contained author: the family name of the clinician who filed the document "
        "(starts-with, :exact, :contains).",
    ),
    _param(
        "event",
        "token",
        _SP + "DocumentReference-event",
        "context.event; Quill records no event codes, so this matches no document.",
    ),
    _param(
        "facility",
        "token",
        _SP + "DocumentReference-facility",
        "context.facilityType: the organisation's facility type (SNOMED CT by default).",
    ),
    _param(
        "setting",
        "token",
        _SP + "DocumentReference-setting",
        "context.practiceSetting: the organisation's practice setting (SNOMED CT by default).",
    ),
    _param(
        "security-label",
        "token",
        _SP + "DocumentReference-security-label",
        "securityLabel: the organisation's confidentiality code (HL7 v3 Confidentiality).",
    ),
    _param(
        "format",
        "token",
        _SP + "DocumentReference-format",
        "content.format: always urn:ihe:iti:xds:2017:mimeTypeSufficient.",
    ),
    _param(
        "_content",
        "string",
        _SP + "Resource-content",
        "Words in the document's text (its PDF text layer, or OCR of a scan), web search syntax "
        '("a phrase", -word, or); stemmed and as typed. Use with patient.',
    ),
    _param(
        "related",
        "reference",
        _SP + "DocumentReference-related",
        "context.related; related:identifier=urn:quill:encounter|<id> finds the encounter's documents.",
    ),
    *_RESULT_PARAMS,
    _param(
        "_sort",
        "string",
        None,
        "date, creation, period, _lastUpdated or _id, '-' for descending, comma for more keys; default -date.",
    ),
)

_STRING_MATCHING = "case-insensitive starts-with (of any word), or :exact, or :contains; comma for OR."
PATIENT_SEARCH_PARAMS: tuple[dict[str, str], ...] = (
    _param("_id", "token", _SP + "Resource-id", "The patient's Quill UUID."),
    _param(
        "identifier",
        "token",
        _SP + "Patient-identifier",
        "NHS number, MRN (urn:quill:mrn) or Quill id (urn:quill:patient).",
    ),
    _param("family", "string", _SP + "individual-family", "Family name: " + _STRING_MATCHING),
    _param("given", "string", _SP + "individual-given", "Given names: " + _STRING_MATCHING),
    _param("name", "string", _SP + "Patient-name", "Family or given name: " + _STRING_MATCHING),
    _param("birthdate", "date", _SP + "individual-birthdate", "Date of birth; prefixes eq, ge, le, gt, lt."),
    _param("gender", "token", _SP + "individual-gender", "male, female, other or unknown."),
    _param("_lastUpdated", "date", _SP + "Resource-lastUpdated", "When Quill last changed the patient's record."),
    *_RESULT_PARAMS,
    _param(
        "_sort",
        "string",
        None,
        "family, given, birthdate, _lastUpdated or _id, '-' for descending; default family,given.",
    ),
)
LIST_SEARCH_PARAMS: tuple[dict[str, str], ...] = (
    _param("_id", "token", _SP + "Resource-id", "The SubmissionSet's Quill UUID."),
    _param("patient", "reference", _SP + "clinical-patient", "Patient/<id>."),
    _param("patient.identifier", "token", None, "Chained: the patient's NHS number or MRN."),
    _param("code", "token", _SP + "List-code", "submissionset (Quill keeps no Folders)."),
    _param("status", "token", _SP + "List-status", "current (received SubmissionSets are never retired)."),
    _param(
        "identifier",
        "token",
        _SP + "List-identifier",
        "The SubmissionSet's uniqueId (urn:ietf:rfc:3986|urn:oid:…) or entryUUID (urn:uuid:<id>).",
    ),
    _param("date", "date", _SP + "List-date", "When the source submitted it; prefixes eq, ge, le, gt, lt."),
    _param("_lastUpdated", "date", _SP + "Resource-lastUpdated", "When Quill received it; prefixes as for date."),
    *_RESULT_PARAMS,
    _param(
        "_sort",
        "string",
        None,
        "date, _lastUpdated or _id, '-' for descending, comma for more keys; default -_lastUpdated.",
    ),
)

# What every read and search interaction also takes.
_PAGING = (
    "Searches page with signed cursors in the Bundle's next/previous links (stable while documents arrive); "
    "GET or POST [type]/_search with a form-encoded body."
)
_READS = {"versioning": "versioned", "readHistory": False, "conditionalRead": "full-support"}


def capability_statement(base_url: str, *, software_version: str, date: dt.datetime | None = None) -> dict[str, Any]:
    """Quill's R4 CapabilityStatement (``GET /fhir/r4/metadata``), validated."""
    fhir_base = _fhir_base(base_url)
    resource = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date or dt.datetime.now(dt.UTC),
        "publisher": "Quill",
        "kind": "instance",
        "instantiates": [codes.MHD_DOCUMENT_RESPONDER_CAPABILITY, codes.MHD_DOCUMENT_RECIPIENT_CAPABILITY],
        "software": {"name": "Quill", "version": software_version},
        "implementation": {"description": "Quill clinical document store", "url": fhir_base},
        "fhirVersion": codes.FHIR_VERSION,
        "format": [codes.FHIR_JSON_MIME_TYPE, "json", "application/fhir+xml", "xml"],
        "rest": [
            {
                "mode": "server",
                "documentation": "IHE MHD 4.2.2 Document Responder: Find Document Lists [ITI-66] (SubmissionSets), "
                "Find Document References [ITI-67] and Retrieve Document [ITI-68]; Document Recipient: "
                "Provide Document Bundle [ITI-65] as a transaction Bundle POSTed to the base (Binary "
                "documents; no Folders, no FHIR Document Publish, no replace via PATCH). " + _PAGING,
                "security": {
                    "cors": False,
                    "description": "Every request needs a Quill integrator API token in the Authorization "
                    "header. A token is scoped to one organisation: only that organisation's patients and "
                    "documents are visible, and every read is audited.",
                },
                "resource": [
                    {
                        "type": "DocumentReference",
                        "supportedProfile": [
                            codes.MHD_MINIMAL_DOCUMENT_REFERENCE_PROFILE,
                            codes.MHD_COMPREHENSIVE_DOCUMENT_REFERENCE_PROFILE,
                        ],
                        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
                        **_READS,
                        "searchInclude": ["DocumentReference:subject", "DocumentReference:author"],
                        "searchParam": [dict(param) for param in DOCUMENT_REFERENCE_SEARCH_PARAMS],
                    },
                    {
                        "type": "Binary",
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "type": "Patient",
                        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
                        **_READS,
                        "searchParam": [dict(param) for param in PATIENT_SEARCH_PARAMS],
                    },
                    {
                        "type": "List",
                        "supportedProfile": [codes.MHD_SUBMISSION_SET_PROFILE],
                        "interaction": [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}],
                        **_READS,
                        "searchParam": [dict(param) for param in LIST_SEARCH_PARAMS],
                    },
                ],
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "ITI-65 Provide Document Bundle (MHD Minimal, UnContained Comprehensive "
                        "or Comprehensive ProvideBundle): all or nothing, idempotent on the SubmissionSet's "
                        "uniqueId and each DocumentReference's masterIdentifier.",
                    }
                ],
            }
        ],
    }
    return validate_resource(CapabilityStatement, resource)


# --- Bundle and Binary -----------------------------------------------------------------------------


def searchset_bundle(
    resources: Iterable[Mapping[str, Any]],
    *,
    included: Iterable[Mapping[str, Any]] = (),
    total: int,
    self_url: str,
    next_url: str | None = None,
    previous_url: str | None = None,
    base_url: str,
    ignored: Iterable[str] = (),
) -> dict[str, Any]:
    """A searchset Bundle of matches with self/next/previous links, validated.

    ``included`` are resources added by ``_include`` (``search.mode = include``; not counted
    in ``total``). ``ignored`` names the parameters the search did not apply (FHIR lenient handling): the
    Bundle then carries a warning OperationOutcome (``search.mode = outcome``) naming each,
    so no client mistakes an unfiltered answer for a filtered one.
    """
    fhir_base = _fhir_base(base_url)
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    if previous_url:
        links.append({"relation": "previous", "url": previous_url})
    entries = []
    for mode, group in (("match", resources), ("include", included)):
        for resource in group:
            resource_type, resource_id = resource.get("resourceType"), resource.get("id")
            if not resource_type or not resource_id:
                raise ValidationFailed("Every resource in a searchset needs a resourceType and an id.")
            entries.append(
                {
                    "fullUrl": f"{fhir_base}/{resource_type}/{resource_id}",
                    "resource": dict(resource),
                    "search": {"mode": mode},
                }
            )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": dt.datetime.now(dt.UTC),
        "total": total,
        "link": links,
    }
    ignored = list(ignored)
    if ignored:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": ignored_parameters_outcome(ignored),
                "search": {"mode": "outcome"},
            }
        )
    if entries:
        bundle["entry"] = entries
    return validate_resource(Bundle, bundle)


def ignored_parameters_outcome(names: list[str]) -> dict[str, Any]:
    """One warning issue per search parameter that was not applied."""
    issues = [
        {
            "severity": "warning",
            "code": "not-supported",
            "details": {
                "coding": [{"system": codes.ERROR_CODE_SYSTEM, "code": "search_parameter_ignored"}],
                "text": f"The search parameter {name!r} is not supported here, so the results are NOT filtered by it.",
            },
            "diagnostics": f"The search parameter {name!r} is not supported here, so the results are NOT filtered "
            "by it. Send 'Prefer: handling=strict' to have such a search refused instead.",
        }
        for name in names
    ]
    return validate_resource(OperationOutcome, {"resourceType": "OperationOutcome", "issue": issues})


def binary_resource(content_type: str, data_b64: str, *, resource_id: str | None = None) -> dict[str, Any]:
    """A Binary carrying base64 data (for ``Accept: application/fhir+json`` reads), validated."""
    resource: dict[str, Any] = {"resourceType": "Binary", "contentType": content_type, "data": data_b64}
    if resource_id:
        resource["id"] = resource_id
    return validate_resource(Binary, resource)


# --- Search parameters -----------------------------------------------------------------------------


class DateParam(NamedTuple):
    """A parsed FHIR date search value: prefix, the value as given and its precision.

    ``value`` is a ``date`` for YYYY, YYYY-MM and YYYY-MM-DD (precision ``year``,
    ``month``, ``day``) and an aware ``datetime`` for instants (``minute``, ``second``,
    ``fraction``). A partial date stands for the whole period it names.
    """

    op: DatePrefix
    value: dt.date | dt.datetime
    precision: str

    def interval(self, tz: dt.tzinfo = dt.UTC) -> tuple[dt.datetime, dt.datetime]:
        """The half-open range ``[start, end)`` the value names; dates are read in ``tz``."""
        if isinstance(self.value, dt.datetime):
            step = {
                "minute": dt.timedelta(minutes=1),
                "second": dt.timedelta(seconds=1),
                "fraction": dt.timedelta(microseconds=1),
            }[self.precision]
            return self.value, self.value + step
        start = dt.datetime.combine(self.value, dt.time.min, tzinfo=tz)
        if self.precision == "year":
            end = start.replace(year=start.year + 1)
        elif self.precision == "month":
            end = start + dt.timedelta(days=calendar.monthrange(start.year, start.month)[1])
        else:
            end = start + dt.timedelta(days=1)
        return start, end

    def matches(self, instant: dt.datetime, tz: dt.tzinfo = dt.UTC) -> bool:
        """Whether an aware instant satisfies this search value (FHIR prefix semantics)."""
        start, end = self.interval(tz)
        return {
            "eq": start <= instant < end,
            "ge": instant >= start,
            "gt": instant >= end,
            "le": instant < end,
            "lt": instant < start,
        }[self.op]


class TokenParam(NamedTuple):
    """A parsed FHIR token: ``system`` None means any system, "" means no system; ``code`` None means any code."""

    system: str | None
    code: str | None


def parse_date_param(value: str) -> DateParam:
    """Parse a FHIR date search value like ``ge2024-01``, ``2024-03-05`` or ``lt2024-03-05T10:00:00Z``."""
    raw = (value or "").strip()
    op: str = "eq"
    if len(raw) > 2 and raw[:2].isalpha():
        op, raw = raw[:2], raw[2:]
        if op in _UNSUPPORTED_PREFIXES:
            raise InvalidSearchParameter(
                f"The date prefix {op!r} is not supported; use eq, ge, le, gt or lt.", value=value
            )
        if op not in DATE_PREFIXES:
            raise InvalidSearchParameter(f"Unknown date prefix {op!r}.", value=value)
    # In a query string an unescaped "+" in a timezone offset arrives as a space.
    raw = re.sub(r" (\d{2}:\d{2})$", r"+\1", raw)
    match = _DATE_RE.match(raw)
    if not match:
        raise InvalidSearchParameter(
            f"{value!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or an instant with a timezone).", value=value
        )
    try:
        return DateParam(op, *_date_value(match))  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidSearchParameter(f"{value!r} is not a real date: {exc}.", value=value) from exc


def _date_value(match: re.Match[str]) -> tuple[dt.date | dt.datetime, str]:
    year = int(match["year"])
    if match["month"] is None:
        return dt.date(year, 1, 1), "year"
    month = int(match["month"])
    if match["day"] is None:
        return dt.date(year, month, 1), "month"
    day = int(match["day"])
    if match["hour"] is None:
        if match["tz"] is not None:
            raise ValueError("a timezone needs a time")
        return dt.date(year, month, day), "day"
    tz = dt.UTC if match["tz"] == "Z" else dt.datetime.strptime(match["tz"], "%z").tzinfo
    second = int(match["second"]) if match["second"] is not None else 0
    fraction = match["fraction"]
    microsecond = int((fraction or "0").ljust(6, "0")[:6])
    instant = dt.datetime(year, month, day, int(match["hour"]), int(match["minute"]), second, microsecond, tzinfo=tz)
    precision = "minute" if match["second"] is None else ("fraction" if fraction else "second")
    return instant, precision


def parse_token_param(value: str) -> TokenParam:
    """Parse a FHIR token search value: ``code``, ``system|code``, ``|code`` or ``system|``."""
    raw = value or ""
    parts = _split_unescaped_pipe(raw)
    if len(parts) == 1:
        code = _unescape(parts[0])
        if not code:
            raise InvalidSearchParameter("An empty token matches nothing.", value=value)
        return TokenParam(None, code)
    if len(parts) > 2:
        raise InvalidSearchParameter("A token has at most one unescaped '|'.", value=value)
    system, code = _unescape(parts[0]), _unescape(parts[1])
    if not system and not code:
        raise InvalidSearchParameter("A token needs a system or a code.", value=value)
    return TokenParam(system, code or None)


def _split_unescaped_pipe(raw: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in raw:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\|,$])", r"\1", text)


def _fhir_base(base_url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", base_url or ""):
        raise ValidationFailed("The public base URL must be an absolute http(s) URL (QUILL_PUBLIC_BASE_URL).")
    return f"{base_url.rstrip('/')}/fhir/r4"
