"""Services for a patient's profile photo (the bytes are handled by ``apps.files.photos``)."""

from __future__ import annotations

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.files.photos import photo_replace
from apps.files.spooling import SpooledFile
from apps.patients import access
from apps.patients.models import Patient
from quill.errors import PermissionDenied


def patient_photo_prefix(patient: Patient) -> str:
    return f"{patient.organisation_id}/{patient.pk}"


def ensure_may_change_patient_photo(*, actor: User, patient: Patient) -> None:
    """Clinical staff of the patient's organisation; anyone else is refused, and the refusal audited."""
    if access.may_write(actor) and actor.organisation_id == patient.organisation_id:
        return
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=actor,
        reason="role_required",
        patient_id=patient.pk if actor.organisation_id == patient.organisation_id else None,
        object_type="patient",
        object_id=patient.pk,
        details={"attempted": "patient.photo_change"},
    )
    raise PermissionDenied("Only clinical staff may change a patient's photo.")


def _change(*, actor: User, patient: Patient, spooled: SpooledFile | None, action: Action) -> Patient:
    photo_replace(
        owner=patient,
        prefix=patient_photo_prefix(patient),
        spooled=spooled,
        check=lambda: ensure_may_change_patient_photo(actor=actor, patient=patient),
        record=lambda change: audit_record(
            action=action,
            actor=actor,
            organisation_id=patient.organisation_id,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
            details={"photo": change},
        ),
    )
    return patient


def patient_photo_set(*, actor: User, patient: Patient, spooled: SpooledFile) -> Patient:
    """Store a new photo and avatar for `patient` (authorised by a selector); old objects go."""
    return _change(actor=actor, patient=patient, spooled=spooled, action=Action.PATIENT_PHOTO_CHANGED)


def patient_photo_remove(*, actor: User, patient: Patient) -> Patient:
    return _change(actor=actor, patient=patient, spooled=None, action=Action.PATIENT_PHOTO_REMOVED)
