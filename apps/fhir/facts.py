"""The one place that reads Quill's models into the FHIR mapping's facts.

``DocumentFacts`` and ``PatientFacts`` (see ``mapping.py``) are filled here, both for the
outbound sync (where ``subject`` points at the external server's Patient id) and for
Quill's own ``/fhir/r4/`` endpoint (where it points at Quill's own Patient id).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from apps.accounts.models import Organisation
from apps.documents.models import Document
from apps.patients.models import Patient

from . import codes
from .mapping import DocumentFacts, MhdMetadata, PatientFacts, SubmissionSetFacts
from .models import CONFIDENTIALITY_SYSTEM, MhdSettings, SubmissionSet, SubmissionSetEntry

# What document_facts() reads besides the document row, for select_related().
DOCUMENT_FACT_RELATIONS = (
    "patient",
    "organisation__mhd_settings",
    "uploaded_by",
    "supersedes",
    "mhd_entry",
)


def mhd_metadata(organisation: Organisation) -> MhdMetadata:
    """The organisation's MHD document metadata, or the defaults when it has set none."""
    try:
        settings = organisation.mhd_settings
    except MhdSettings.DoesNotExist:
        settings = MhdSettings(organisation=organisation)
    return MhdMetadata(
        security_label=codes.Coding(
            CONFIDENTIALITY_SYSTEM, settings.confidentiality, settings.get_confidentiality_display()
        ),
        language=settings.language,
        facility_type=codes.Coding(
            settings.facility_type_system, settings.facility_type_code, settings.facility_type_display
        ),
        practice_setting=codes.Coding(
            settings.practice_setting_system, settings.practice_setting_code, settings.practice_setting_display
        ),
    )


def document_fhir_status(document: Document) -> str:
    """``entered-in-error`` once soft-deleted, ``superseded`` once replaced, else ``current``."""
    if document.deleted_at is not None:
        return "entered-in-error"
    if not document.is_current:
        return "superseded"
    return "current"


def document_version_id(document: Document) -> str:
    """Quill's version of the resource: changes whenever the row's ``updated_at`` does."""
    return str(int(document.updated_at.timestamp() * 1000))


def patient_facts(patient: Patient, *, fhir_id: str | None = None) -> PatientFacts:
    """Facts for ``patient``; ``fhir_id`` overrides the stored one (the endpoint uses Quill's own id)."""
    return PatientFacts(
        id=patient.pk,
        fhir_id=fhir_id if fhir_id is not None else (patient.fhir_id or None),
        nhs_number=patient.nhs_number or None,
        mrn=patient.mrn or None,
        given=patient.given_name,
        family=patient.family_name,
        birth_date=patient.date_of_birth,
        sex=patient.sex or None,
    )


def document_facts(document: Document, *, served_by_quill: bool = False) -> DocumentFacts:
    """Facts for one document version in its current state.

    ``served_by_quill``: the subject is Quill's own ``Patient/{id}`` (for ``/fhir/r4/``)
    rather than the Patient id on the external FHIR server.
    """
    patient = document.patient
    author = document.uploaded_by
    replaced = document.supersedes if document.version_number > 1 else None
    if replaced is None:
        replaces_reference = None
    elif served_by_quill:
        replaces_reference = f"DocumentReference/{replaced.pk}"
    else:
        replaces_reference = f"DocumentReference/{replaced.fhir_id}" if replaced.fhir_id else None
    try:
        entry: SubmissionSetEntry | None = document.mhd_entry
    except SubmissionSetEntry.DoesNotExist:
        entry = None
    return DocumentFacts(
        id=document.pk,
        status=document_fhir_status(document),
        category=document.category,
        title=document.title,
        description=None,  # Quill documents carry a title but no separate description.
        content_type=document.content_type,
        size=document.size,
        sha1=document.sha1,
        created=document.uploaded_at,
        document_date=document.document_date if document.document_date_given else None,
        encounter_id=document.encounter_id or None,
        author_display=(author.full_name or None) if author is not None else None,
        author_id=str(author.pk) if author is not None else None,
        organisation_name=document.organisation.name,
        organisation_id=str(document.organisation_id),
        patient=patient_facts(patient, fhir_id=str(patient.pk) if served_by_quill else None),
        replaces=replaced.pk if replaced is not None else None,
        last_updated=document.updated_at,
        version_id=document_version_id(document),
        metadata=mhd_metadata(document.organisation),
        replaces_reference=replaces_reference,
        master_identifier=(entry.master_identifier_system, entry.master_identifier_value) if entry else None,
    )


def submission_set_last_updated(submission_set: SubmissionSet) -> dt.datetime:
    """When the List last changed: received, or later when one of its documents changed (replaced, deleted).

    ``entries_updated_at`` is annotated by the selector (``fhir_submission_sets_visible_to``):
    the latest change of any of its documents, those the caller may not see included, so a
    document leaving the List (deleted) moves the List's version too.
    """
    entries_updated_at = getattr(submission_set, "entries_updated_at", None)
    return max(submission_set.received_at, entries_updated_at or submission_set.received_at)


def submission_set_version_id(submission_set: SubmissionSet) -> str:
    """The List's version, read the same way as a DocumentReference's: its last change in milliseconds."""
    return str(int(submission_set_last_updated(submission_set).timestamp() * 1000))


def submission_set_facts(submission_set: SubmissionSet) -> SubmissionSetFacts:
    """Facts for a received SubmissionSet; its entries in bundle order (prefetch ``entries``)."""
    return SubmissionSetFacts(
        id=submission_set.pk,
        unique_id=submission_set.unique_id,
        source_id=submission_set.source_id,
        title=submission_set.title,
        submitted_at=submission_set.submitted_at,
        patient_reference=f"Patient/{submission_set.patient_id}",
        document_ids=tuple(entry.document_id for entry in submission_set.entries.all()),
        last_updated=submission_set_last_updated(submission_set),
        version_id=submission_set_version_id(submission_set),
    )


def documents_for_facts(queryset: QuerySet[Document]) -> QuerySet[Document]:
    """Join what document_facts() reads, so a page of facts costs one query."""
    return queryset.select_related(*DOCUMENT_FACT_RELATIONS)
