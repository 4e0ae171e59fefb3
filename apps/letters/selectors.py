"""Reading letters. Organisation isolation comes from the patient selector; letters are clinical.

A letter is visible to a user who may open its patient (`patient_get_for`, which
also applies restricted records and break-glass) and holds a clinical role.
Billing staff never see letters (they see only insurance documents). Every
refusal is audited once as `access.denied`.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.security_log import security_log_cross_organisation
from apps.audit.services import audit_denied
from apps.letters.errors import LetterRoleRequired
from apps.letters.models import Letter
from apps.outbox.models import OutboxMessage, Target
from apps.patients.access import PatientAction
from apps.patients.models import Patient
from apps.patients.selectors import patient_get_for
from quill.errors import NotFound


def _ensure_clinical(*, user: User, patient: Patient, attempted: str, object_id: object = "") -> None:
    if user.is_clinical:
        return
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=user,
        reason="role_required",
        patient_id=patient.pk,
        object_type="letter" if object_id else "patient",
        object_id=object_id or patient.pk,
        details={"attempted": attempted},
    )
    raise LetterRoleRequired()


def letter_patient_for(*, user: User, patient_id: uuid.UUID | str, attempted: str, write: bool = False) -> Patient:
    """The patient whose letters `user` may list (or write, with `write=True`)."""
    patient = patient_get_for(
        user=user, patient_id=patient_id, action=PatientAction.EDIT if write else PatientAction.VIEW
    )
    _ensure_clinical(user=user, patient=patient, attempted=attempted)
    return patient


def letters_for_patient(*, patient: Patient) -> QuerySet[Letter]:
    """A patient's letters, newest first (the caller authorised the patient with `letter_patient_for`)."""
    return (
        Letter.objects.filter(organisation_id=patient.organisation_id, patient=patient)
        .select_related("author", "signed_by", "amends", "document")
        .order_by("-created_at", "-pk")
    )


def letter_get_for(*, user: User, letter_id: uuid.UUID | str, attempted: str = "letter.view") -> Letter:
    """One letter `user` may see: 404 outside the organisation (or unknown), 403 without a clinical role."""
    try:
        letter_uuid = uuid.UUID(str(letter_id))
    except ValueError as exc:
        raise NotFound("No such letter.") from exc
    letter = (
        Letter.objects.select_related("patient", "author", "organisation", "document", "amends")
        .filter(pk=letter_uuid)
        .first()
    )
    if letter is None or letter.organisation_id != user.organisation_id:
        if letter is not None:  # the installation's security log, never the caller's chain
            security_log_cross_organisation(
                actor=user,
                object_type="letter",
                object_id=letter_uuid,
                owner_organisation_id=letter.organisation_id,
                attempted=attempted,
            )
        audit_denied(
            action=Action.ACCESS_DENIED,
            actor=user,
            reason="not_found",
            object_type="letter",
            object_id=letter_uuid,
            details={"attempted": attempted},
        )
        raise NotFound("No such letter.")
    # The patient rules (restricted records, roles) are the patients app's; it audits its own refusals.
    patient_get_for(user=user, patient_id=letter.patient_id, action=PatientAction.VIEW)
    _ensure_clinical(user=user, patient=letter.patient, attempted=attempted, object_id=letter.pk)
    return letter


def letter_amendments(*, letter: Letter) -> QuerySet[Letter]:
    return Letter.objects.filter(amends=letter).select_related("author").order_by("-created_at")


def letter_recipient_text(letter: Letter) -> str:
    """Recipient as one line: name, role, address lines (as sent to openEHR)."""
    parts = [letter.recipient_name, letter.recipient_role, *letter.recipient_address.splitlines()]
    return ", ".join(part.strip() for part in parts if part.strip())


def letter_latest_push(*, letter: Letter) -> OutboxMessage | None:
    """The newest openEHR push of this letter (its state shows on the letter page), if any."""
    return OutboxMessage.objects.filter(target=Target.OPENEHR, object_id=str(letter.pk)).order_by("-created_at").first()


def letter_titles(ids: list[str]) -> dict[str, str]:
    """Letters' subjects by id, for the access report."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    rows = Letter.objects.filter(pk__in=valid).values_list("pk", "subject")
    return {str(pk): f"Letter “{subject or 'untitled'}”" for pk, subject in rows}
