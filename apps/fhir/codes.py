"""Code systems, identifier systems and the allowed code values Quill uses in FHIR R4.

This is the one place that maps a Quill document category to a DocumentReference
``type`` and ``category`` coding. LOINC is used where a document-ontology code fits the
whole category; categories with no good LOINC code get a code from Quill's own
``urn:quill:category`` system rather than a near-miss LOINC code.

pydantic (fhir.resources) does not check code values, so the value sets the
mapping and ``check_codes`` rely on are listed here, from the FHIR R4 (4.0.1) spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.fhir.errors import UnknownCategory

# --- Code and identifier systems -------------------------------------------------------------------

LOINC_SYSTEM = "http://loinc.org"
QUILL_CATEGORY_SYSTEM = "urn:quill:category"
QUILL_DOCUMENT_SYSTEM = "urn:quill:document"
QUILL_PATIENT_SYSTEM = "urn:quill:patient"
QUILL_MRN_SYSTEM = "urn:quill:mrn"
QUILL_ORGANISATION_SYSTEM = "urn:quill:organisation"
QUILL_USER_SYSTEM = "urn:quill:user"
QUILL_ENCOUNTER_SYSTEM = "urn:quill:encounter"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
URI_SYSTEM = "urn:ietf:rfc:3986"
IHE_FORMAT_CODE_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"

FHIR_VERSION = "4.0.1"
FHIR_JSON_MIME_TYPE = "application/fhir+json"
MHD_DOCUMENT_RESPONDER_CAPABILITY = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentResponder"
MHD_DOCUMENT_RECIPIENT_CAPABILITY = "https://profiles.ihe.net/ITI/MHD/CapabilityStatement/IHE.MHD.DocumentRecipient"

# IHE MHD 4.2.2 profiles and extensions (https://profiles.ihe.net/ITI/MHD/).
MHD_PROFILE_PREFIX = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
_MHD_SD = MHD_PROFILE_PREFIX
MHD_MINIMAL_DOCUMENT_REFERENCE_PROFILE = _MHD_SD + "IHE.MHD.Minimal.DocumentReference"
MHD_COMPREHENSIVE_DOCUMENT_REFERENCE_PROFILE = _MHD_SD + "IHE.MHD.Comprehensive.DocumentReference"
MHD_SUBMISSION_SET_PROFILE = _MHD_SD + "IHE.MHD.Minimal.SubmissionSet"
MHD_PROVIDE_BUNDLE_PROFILES = frozenset(
    _MHD_SD + name
    for name in (
        "IHE.MHD.Minimal.ProvideBundle",
        "IHE.MHD.UnContained.Comprehensive.ProvideBundle",
        "IHE.MHD.Comprehensive.ProvideBundle",
    )
)
MHD_PROVIDE_BUNDLE_RESPONSE_PROFILE = _MHD_SD + "IHE.MHD.ProvideDocumentBundleResponse"
MHD_SOURCE_ID_EXTENSION = _MHD_SD + "ihe-sourceId"
MHD_LIST_TYPES_SYSTEM = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
# DocumentReference.status in MHD (ValueSet DocumentReferenceStats): no entered-in-error.
MHD_DOCUMENT_REFERENCE_STATUSES = frozenset({"current", "superseded"})


@dataclass(frozen=True, slots=True)
class Coding:
    """One FHIR Coding (system, code, display)."""

    system: str
    code: str
    display: str

    def as_fhir(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class CategoryCodes:
    """The DocumentReference ``type`` and ``category`` codings for one Quill category."""

    type: Coding
    category: Coding


MHD_SUBMISSION_SET_CODE = Coding(MHD_LIST_TYPES_SYSTEM, "submissionset", "SubmissionSet as a FHIR List")

# IHE FormatCode "the mime type says all there is to know about the format"; Quill stores
# PDFs and images, not CDA or other profiled content.
MIME_TYPE_SUFFICIENT = Coding(IHE_FORMAT_CODE_SYSTEM, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient")


def _quill(code: str, display: str) -> Coding:
    return Coding(QUILL_CATEGORY_SYSTEM, code, display)


def _loinc(code: str, display: str) -> Coding:
    return Coding(LOINC_SYSTEM, code, display)


# Quill category -> DocumentReference type / category.
# LOINC codes and displays checked against published value sets (LOINC document ontology,
# C-CDA on FHIR ReferralDocumentType, FHIR consent-category examples).
# Deliberately not LOINC:
#   letter    - 34140-4 is a deprecated "Transfer of care referral note", not a letter, and
#               LOINC's letter codes are all specialty-specific ("Vascular surgery Letter").
#   photo, insurance, other - no LOINC document code covers the whole category.
CATEGORY_CODES: dict[str, CategoryCodes] = {
    "lab": CategoryCodes(
        type=_loinc("11502-2", "Laboratory report"),
        category=_quill("lab", "Laboratory"),
    ),
    "imaging": CategoryCodes(
        type=_loinc("18748-4", "Diagnostic imaging study"),
        category=_quill("imaging", "Imaging"),
    ),
    "clinical-note": CategoryCodes(
        type=_loinc("11506-3", "Progress note"),
        category=_quill("clinical-note", "Clinical note"),
    ),
    "consent": CategoryCodes(
        type=_loinc("59284-0", "Consent Document"),
        category=_quill("consent", "Consent"),
    ),
    "referral": CategoryCodes(
        type=_loinc("57133-1", "Referral note"),
        category=_quill("referral", "Referral"),
    ),
    "insurance": CategoryCodes(
        type=_quill("insurance", "Insurance document"),
        category=_quill("insurance", "Insurance"),
    ),
    "photo": CategoryCodes(
        type=_quill("photo", "Clinical photograph"),
        category=_quill("photo", "Photo"),
    ),
    "letter": CategoryCodes(
        type=_quill("letter", "Letter"),
        category=_quill("letter", "Letter"),
    ),
    "other": CategoryCodes(
        type=_quill("other", "Other document"),
        category=_quill("other", "Other"),
    ),
}

QUILL_CATEGORIES: frozenset[str] = frozenset(CATEGORY_CODES)

# --- Value sets (FHIR R4 4.0.1) ------------------------------------------------------------------

# DocumentReference.status (document-reference-status, required)
DOCUMENT_REFERENCE_STATUSES = frozenset({"current", "superseded", "entered-in-error"})
# DocumentReference.docStatus (composition-status, required)
COMPOSITION_STATUSES = frozenset({"preliminary", "final", "amended", "entered-in-error"})
# DocumentReference.relatesTo.code (document-relationship-type, required)
DOCUMENT_RELATIONSHIP_TYPES = frozenset({"replaces", "transforms", "signs", "appends"})
# Patient.gender (administrative-gender, required)
ADMINISTRATIVE_GENDERS = frozenset({"male", "female", "other", "unknown"})
ADMINISTRATIVE_GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
# Quill's error_code in an OperationOutcome issue's details.
ERROR_CODE_SYSTEM = "urn:quill:error-code"
# Bundle.type (bundle-type, required)
BUNDLE_TYPES = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
# Bundle.entry.search.mode (search-entry-mode, required)
SEARCH_ENTRY_MODES = frozenset({"match", "include", "outcome"})
# OperationOutcome.issue.severity (issue-severity, required)
ISSUE_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
# OperationOutcome.issue.code (issue-type, required)
ISSUE_TYPES = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    }
)
# CapabilityStatement.rest.resource.interaction.code (type-restful-interaction, required)
TYPE_RESTFUL_INTERACTIONS = frozenset(
    {"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
)
# SearchParameter type (search-param-type, required)
SEARCH_PARAM_TYPES = frozenset(
    {"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}
)

# Quill's recorded sex -> FHIR administrative gender. Quill stores the FHIR words; the
# one-letter forms are accepted because patient imports commonly carry them.
SEX_TO_GENDER: dict[str, str] = {
    "male": "male",
    "female": "female",
    "other": "other",
    "unknown": "unknown",
    "m": "male",
    "f": "female",
    "o": "other",
    "u": "unknown",
}


def category_codes(category: str) -> CategoryCodes:
    """The type/category codings for a Quill category; raises ``UnknownCategory``."""
    try:
        return CATEGORY_CODES[category]
    except KeyError:
        raise UnknownCategory(
            f"Unknown document category {category!r}; expected one of {sorted(QUILL_CATEGORIES)}.",
            category=category,
        ) from None
