"""What ``/fhir/r4/`` answers: resources and Bundles built from the selectors, each read audited.

Absolute URLs (``fullUrl``, Bundle links, ``attachment.url``, the CapabilityStatement's
``implementation.url``) all start with one public base URL (``public_base_url``):
``QUILL_PUBLIC_BASE_URL`` when set (production refuses to start without it: behind a proxy
the request's host is often an internal name), else, in development, the address the
request came to (its host checked against ``ALLOWED_HOSTS``), so paging links and
attachment URLs always lead back to the server that was asked.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.documents.errors import DocumentCorrupt
from apps.documents.models import AVAILABLE_SCAN_STATUSES, Document
from apps.documents.services.delivery import ensure_available
from apps.documents.services.scanning import document_mark_corrupt
from apps.fhir.errors import BinaryTooLargeForJson
from apps.files import storage
from apps.patients.models import Patient
from apps.patients.services import patient_mark_viewed
from quill.errors import NotFound

from .errors import VersionNotFound
from .facts import (
    document_facts,
    document_version_id,
    patient_facts,
    submission_set_facts,
    submission_set_version_id,
)
from .mapping import document_reference, patient_resource, submission_set_list
from .paging import Cursor, cursor_token
from .responder import binary_resource, searchset_bundle
from .search import SearchRequest
from .selectors import (
    Page,
    fhir_document_get,
    fhir_document_search,
    fhir_patient_get,
    fhir_patient_search,
    fhir_patients_for_include,
    fhir_submission_set_get,
    fhir_submission_set_search,
)
from .subsetting import subset

CHANNEL = "fhir"
# A Binary resource carries the bytes base64-encoded inside JSON, in memory; bigger
# documents are served raw (any Accept other than FHIR JSON).
MAX_BINARY_RESOURCE_BYTES = 32 * 1024 * 1024


def public_base_url(request: HttpRequest) -> str:
    """Quill's public address: ``QUILL_PUBLIC_BASE_URL``, or in development the one ``request`` came to."""
    configured = settings.QUILL_PUBLIC_BASE_URL
    return (configured or request.build_absolute_uri("/")).rstrip("/")


def fhir_base_url(base_url: str) -> str:
    return f"{base_url}/fhir/r4"


# --- Resources -----------------------------------------------------------------------------------


def served_document_reference(document: Document, *, base_url: str) -> dict[str, Any]:
    """The DocumentReference Quill serves: Quill's ids, ``subject`` = Quill's ``Patient/{id}``."""
    return document_reference(
        document_facts(document, served_by_quill=True), base_url=base_url, subject_mode="reference"
    )


def served_patient(patient: Patient) -> dict[str, Any]:
    """The Patient Quill serves, with ``meta`` (its version changes whenever the row does)."""
    resource = patient_resource(patient_facts(patient))
    meta = {"versionId": patient_version_id(patient), "lastUpdated": patient.updated_at.isoformat()}
    return {"resourceType": resource["resourceType"], "id": resource["id"], "meta": meta, **resource}


def patient_version_id(patient: Patient) -> str:
    return str(int(patient.updated_at.timestamp() * 1000))


# --- DocumentReference ---------------------------------------------------------------------------


def document_search_bundle(*, user: User, search: SearchRequest, base_url: str) -> dict[str, Any]:
    """ITI-67: a searchset Bundle of the matching DocumentReferences (one audit event per page)."""
    page = fhir_document_search(user=user, search=search)
    resources = [served_document_reference(row, base_url=base_url) for row in page.rows]
    included: list[Patient] = []
    if any(include.startswith("DocumentReference:subject") for include in search.includes) and page.rows:
        included = fhir_patients_for_include(user=user, patient_ids=(row.patient_id for row in page.rows))
    bundle = _bundle(search, page, resources, base_url=base_url, user=user, included=included)
    patient_ids = sorted({str(row.patient_id) for row in page.rows})
    details: dict[str, Any] = {
        "resource": "DocumentReference",
        "criteria": search.as_details(),
        "total": page.total,
        "returned": [str(row.pk) for row in page.rows],
        "patients": patient_ids,
    }
    if included:
        details["included"] = [f"Patient/{patient.pk}" for patient in included]
    audit_record(
        action=Action.FHIR_SEARCH,
        actor=user,
        patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
        object_type="document",
        details=details,
    )
    return bundle


def document_reference_read(
    *, user: User, document_id: str, base_url: str, version_id: str | None = None
) -> dict[str, Any]:
    """``DocumentReference/{id}`` (or its ``_history/{vid}``): 404/403 from the selector, 410 deleted, 409 not clean."""
    document = fhir_document_get(user=user, document_id=document_id, action="document.view")
    if document.scan_status not in AVAILABLE_SCAN_STATUSES:
        ensure_available(document)  # raises ScanPending or Quarantined (409)
    if version_id is not None and version_id != document_version_id(document):
        raise VersionNotFound()
    resource = served_document_reference(document, base_url=base_url)
    audit_record(
        action=Action.DOCUMENT_VIEWED,
        actor=user,
        patient_id=document.patient_id,
        object_type="document",
        object_id=document.pk,
        details={"channel": CHANNEL},
    )
    return resource


# --- Binary --------------------------------------------------------------------------------------


def binary_document(*, user: User, document_id: str) -> Document:
    """The document behind ``Binary/{id}``, ready to serve: 404 unknown, 410 deleted, 409 not clean or corrupt."""
    document = fhir_document_get(user=user, document_id=document_id, action="document.download")
    ensure_available(document)
    return document


def binary_resource_read(*, user: User, document: Document, representation: str = "json") -> dict[str, Any]:
    """A FHIR ``Binary`` with the document's bytes (base64), re-hashed before they leave Quill."""
    if document.size > MAX_BINARY_RESOURCE_BYTES:
        raise BinaryTooLargeForJson(size=document.size, limit=MAX_BINARY_RESOURCE_BYTES)
    data = _verified_bytes(document, user)
    audit_record(
        action=Action.DOCUMENT_DOWNLOADED,
        actor=user,
        patient_id=document.patient_id,
        object_type="document",
        object_id=document.pk,
        details={"channel": CHANNEL, "format": f"fhir+{representation}"},
    )
    return binary_resource(document.content_type, base64.b64encode(data).decode("ascii"), resource_id=str(document.pk))


def _verified_bytes(document: Document, user: User) -> bytes:
    digest = hashlib.sha256()
    data = bytearray()
    try:
        for chunk in storage.open_range(document.storage_key):
            digest.update(chunk)
            data += chunk
    except FileNotFoundError as exc:
        document_mark_corrupt(document_id=document.pk, reason="stored object is missing", actor=user)
        raise DocumentCorrupt() from exc
    if digest.hexdigest() != document.sha256:
        document_mark_corrupt(document_id=document.pk, reason="FHIR Binary re-hash mismatch", actor=user)
        raise DocumentCorrupt()
    return bytes(data)


# --- List (ITI-66: SubmissionSets) ----------------------------------------------------------------


def list_search_bundle(*, user: User, search: SearchRequest, base_url: str) -> dict[str, Any]:
    """ITI-66: a searchset Bundle of the matching SubmissionSet Lists (one audit event per page)."""
    page = fhir_submission_set_search(user=user, search=search)
    resources = [submission_set_list(submission_set_facts(row)) for row in page.rows]
    bundle = _bundle(search, page, resources, base_url=base_url, user=user)
    patient_ids = sorted({str(row.patient_id) for row in page.rows})
    audit_record(
        action=Action.FHIR_SEARCH,
        actor=user,
        patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
        object_type="submission_set",
        details={
            "resource": "List",
            "criteria": search.as_details(),
            "total": page.total,
            "returned": [str(row.pk) for row in page.rows],
            "patients": patient_ids,
        },
    )
    return bundle


def list_read(*, user: User, list_id: str, version_id: str | None = None) -> dict[str, Any]:
    """``List/{id}`` (or its ``_history/{vid}``): a received SubmissionSet; 404 (audited) if not the caller's."""
    try:
        submission_set = fhir_submission_set_get(user=user, list_id=list_id)
    except NotFound:
        audit_denied(
            action=Action.ACCESS_DENIED,
            actor=user,
            reason="not_found",
            object_type="submission_set",
            object_id=list_id[:64],
        )
        raise
    if version_id is not None and version_id != submission_set_version_id(submission_set):
        raise VersionNotFound()
    resource = submission_set_list(submission_set_facts(submission_set))
    audit_record(
        action=Action.FHIR_LIST_VIEWED,
        actor=user,
        patient_id=submission_set.patient_id,
        object_type="submission_set",
        object_id=submission_set.pk,
        details={"channel": CHANNEL},
    )
    return resource


# --- Patient -------------------------------------------------------------------------------------


def patient_read(*, user: User, patient_id: str, version_id: str | None = None) -> dict[str, Any]:
    patient = fhir_patient_get(user=user, patient_id=patient_id)
    if version_id is not None and version_id != patient_version_id(patient):
        raise VersionNotFound()
    resource = served_patient(patient)
    patient_mark_viewed(actor=user, patient=patient, channel=CHANNEL)
    return resource


def patient_search_bundle(*, user: User, search: SearchRequest, base_url: str) -> dict[str, Any]:
    page = fhir_patient_search(user=user, search=search)
    bundle = _bundle(search, page, [served_patient(row) for row in page.rows], base_url=base_url, user=user)
    audit_record(
        action=Action.FHIR_SEARCH,
        actor=user,
        patient_id=str(page.rows[0].pk) if len(page.rows) == 1 else None,
        object_type="patient",
        details={
            "resource": "Patient",
            "criteria": search.as_details(),
            "total": page.total,
            "returned": [str(row.pk) for row in page.rows],
        },
    )
    return bundle


def _bundle(
    search: SearchRequest,
    page: Page,
    resources: list[dict[str, Any]],
    *,
    base_url: str,
    user: User,
    included: Sequence[Patient] = (),
) -> dict[str, Any]:
    """The searchset: matches shaped by ``_summary``/``_elements``, includes whole, links with cursors."""
    search_url = f"{fhir_base_url(base_url)}/{search.resource_type}"

    def link(cursor: Cursor | None) -> str | None:
        if cursor is None or search.only_total:
            return None
        token = cursor_token(
            cursor=cursor,
            resource_type=search.resource_type,
            organisation_id=user.organisation_id,
            criteria=search.criteria(),
        )
        return f"{search_url}?{search.query(cursor=token)}"

    return searchset_bundle(
        [subset(resource, summary=search.summary, elements=search.elements) for resource in resources],
        included=[served_patient(patient) for patient in included],
        total=page.total,
        self_url=f"{search_url}?{search.query(cursor=search.cursor)}",
        next_url=link(page.next),
        previous_url=link(page.previous),
        base_url=base_url,
        ignored=search.ignored,
    )
