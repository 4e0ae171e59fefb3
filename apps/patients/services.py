"""Changing patients: create, update, break the glass, care team. Each change commits with its audit event."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record, changes
from apps.outbox.models import Target
from apps.outbox.services import outbox_enqueue
from apps.patients import access
from apps.patients.errors import (
    BreakGlassReasonInvalid,
    DuplicateNhsNumber,
    NotRestricted,
    PatientInvalid,
    RoleRequired,
)
from apps.patients.hooks import birth_date_changed
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient, Sex
from apps.patients.nhs_number import nhs_number_problem, normalise_nhs_number
from apps.patients.selectors import parse_date_of_birth

EDITABLE_FIELDS = ("nhs_number", "mrn", "given_name", "family_name", "date_of_birth", "sex", "restricted")
NHS_UNIQUE_CONSTRAINT = "patient_nhs_number_unique_in_organisation"
BREAK_GLASS_REASON_MIN_LENGTH = 10
EARLIEST_BIRTH_DATE = date(1880, 1, 1)


# --- validation: one small function per check --------------------------------------------------


def _max_length(field_name: str) -> int:
    field = Patient._meta.get_field(field_name)
    assert isinstance(field, models.Field) and field.max_length is not None, f"Patient.{field_name} has no max_length"
    return field.max_length


def _check_names(patient: Patient, problems: dict[str, list[tuple[str, str]]]) -> None:
    for name, label in (("given_name", "Given name"), ("family_name", "Family name")):
        value = getattr(patient, name)
        if not value:
            problems.setdefault(name, []).append((f"{label} is needed.", "required"))
        elif len(value) > _max_length(name):
            problems.setdefault(name, []).append((f"{label} is too long (100 characters at most).", "too_long"))


def _check_nhs_number(patient: Patient, problems: dict[str, list[tuple[str, str]]]) -> None:
    if patient.nhs_number:
        problem = nhs_number_problem(patient.nhs_number)
        if problem:
            problems.setdefault("nhs_number", []).append((problem, "invalid_nhs_number"))


def _check_date_of_birth(patient: Patient, problems: dict[str, list[tuple[str, str]]]) -> None:
    born = patient.date_of_birth
    if born is None:
        problems.setdefault("date_of_birth", []).append(("Date of birth is needed.", "required"))
    elif not isinstance(born, date):
        problems.setdefault("date_of_birth", []).append(
            ("Enter the date of birth as 31/01/1980 or 1980-01-31.", "invalid_date")
        )
    elif born > timezone.localdate():
        problems.setdefault("date_of_birth", []).append(("Date of birth cannot be in the future.", "invalid_date"))
    elif born < EARLIEST_BIRTH_DATE:
        problems.setdefault("date_of_birth", []).append(
            ("Date of birth is too far in the past; please check the year.", "invalid_date")
        )


def _check_sex(patient: Patient, problems: dict[str, list[tuple[str, str]]]) -> None:
    if patient.sex not in Sex.values:
        problems.setdefault("sex", []).append(("Choose one of: female, male, other, unknown.", "invalid_choice"))


def _check_mrn(patient: Patient, problems: dict[str, list[tuple[str, str]]]) -> None:
    if len(patient.mrn) > _max_length("mrn"):
        problems.setdefault("mrn", []).append(("The MRN is too long (64 characters at most).", "too_long"))


def _validate(patient: Patient) -> None:
    problems: dict[str, list[tuple[str, str]]] = {}
    for check in (_check_names, _check_nhs_number, _check_date_of_birth, _check_sex, _check_mrn):
        check(patient, problems)
    if problems:
        raise PatientInvalid(problems)


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    for name in ("given_name", "family_name", "mrn"):
        if name in cleaned and cleaned[name] is not None:
            cleaned[name] = str(cleaned[name]).strip()
    if "nhs_number" in cleaned:
        cleaned["nhs_number"] = normalise_nhs_number(str(cleaned["nhs_number"] or "").strip())
    if isinstance(cleaned.get("date_of_birth"), str):  # callers outside forms may pass text
        cleaned["date_of_birth"] = parse_date_of_birth(cleaned["date_of_birth"]) or cleaned["date_of_birth"]
    if "sex" in cleaned and not cleaned["sex"]:
        cleaned["sex"] = Sex.UNKNOWN
    return cleaned


def _save(patient: Patient, **kwargs: Any) -> None:
    """Save, turning the NHS-number uniqueness constraint into a typed refusal (races included)."""
    try:
        with transaction.atomic():
            patient.save(**kwargs)
    except IntegrityError as exc:
        if (
            NHS_UNIQUE_CONSTRAINT in str(exc)
            or _constraint_name(exc) == NHS_UNIQUE_CONSTRAINT
            or ("nhs_number" in str(exc))
        ):
            raise DuplicateNhsNumber() from exc
        raise


def _constraint_name(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def _snapshot(patient: Patient) -> dict[str, Any]:
    return {name: getattr(patient, name) for name in EDITABLE_FIELDS}


def _require_role(actor: User, *, allowed: bool, reason: str, patient: Patient | None, attempted: str) -> None:
    if allowed:
        return
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=actor,
        reason=reason,
        patient_id=patient.pk if patient else None,
        object_type="patient",
        object_id=patient.pk if patient else "",
        details={"attempted": attempted},
    )
    raise RoleRequired("Only clinical staff can do this.")


# --- services -------------------------------------------------------------------------------------


def patient_create(
    *,
    actor: User,
    given_name: str,
    family_name: str,
    date_of_birth: date | str | None,
    sex: str = Sex.UNKNOWN,
    nhs_number: str = "",
    mrn: str = "",
    restricted: bool = False,
) -> Patient:
    """Register a patient in the user's organisation (clinical roles).

    The creator of a restricted record joins its care team, so they can still open it.
    """
    allowed = access.may_write(actor) and bool(actor.organisation_id)
    _require_role(actor, allowed=allowed, reason="role_required", patient=None, attempted="patient.create")
    assert actor.organisation_id is not None, "_require_role refuses an actor without an organisation"
    fields = _normalise(
        {
            "given_name": given_name,
            "family_name": family_name,
            "date_of_birth": date_of_birth,
            "sex": sex,
            "nhs_number": nhs_number,
            "mrn": mrn,
            "restricted": bool(restricted),
        }
    )
    patient = Patient(organisation_id=actor.organisation_id, **fields)
    _validate(patient)
    with transaction.atomic():
        _save(patient, force_insert=True)
        audit_record(
            action=Action.PATIENT_CREATED,
            actor=actor,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
            details={"fields": changes({}, _snapshot(patient))},
        )
        if patient.restricted:
            _care_team_add(actor=actor, patient=patient, member=actor)
    return patient


def patient_update(*, actor: User, patient: Patient, fields: dict[str, Any]) -> Patient:
    """Change demographics (clinical roles, with access); the event holds each changed field before and after.

    The row is locked for the change, so concurrent edits apply one after the other.
    Nothing changed means nothing is saved or recorded.
    """
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise PatientInvalid({name: [("This field cannot be changed.", "read_only")] for name in sorted(unknown)})
    allowed = access.may_write(actor)
    _require_role(actor, allowed=allowed, reason="role_required", patient=patient, attempted="patient.update")
    cleaned = _normalise(fields)
    with transaction.atomic():
        locked = Patient.objects.select_for_update().get(pk=patient.pk, organisation_id=patient.organisation_id)
        before = _snapshot(locked)
        for name, value in cleaned.items():
            setattr(locked, name, value)
        _validate(locked)
        diff = changes(before, _snapshot(locked))
        if diff:
            _save(locked, update_fields=[*diff, "updated_at"])
            audit_record(
                action=Action.PATIENT_UPDATED,
                actor=actor,
                patient_id=locked.pk,
                object_type="patient",
                object_id=locked.pk,
                details={"changes": diff},
            )
            if "restricted" in diff and locked.restricted and not access.is_on_care_team(actor, locked):
                _care_team_add(actor=actor, patient=locked, member=actor)
            if "date_of_birth" in diff:
                # Documents' retention depends on the birth date (the children's rule).
                birth_date_changed(patient_id=locked.pk)
            if locked.fhir_id:
                # Already on the FHIR server: send the new demographics (same transaction, via the outbox).
                outbox_enqueue(
                    target=Target.FHIR, kind="patient", object_id=str(locked.pk), organisation_id=locked.organisation_id
                )
    for name in (*EDITABLE_FIELDS, "updated_at"):
        setattr(patient, name, getattr(locked, name))
    return patient


def patient_mark_viewed(*, actor: User, patient: Patient, channel: str) -> None:
    """Record that `actor` read this patient's record (`channel`: "portal" or "api")."""
    audit_record(
        action=Action.PATIENT_VIEWED,
        actor=actor,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        details={"channel": channel},
    )


def patient_mark_searched(*, actor: User, criteria: dict[str, Any], result_count: int, page: int, channel: str) -> None:
    """One event per list or search request (never one per row): the criteria and how many matched."""
    audit_record(
        action=Action.PATIENT_SEARCHED,
        actor=actor,
        object_type="patient",
        details={"criteria": criteria, "result_count": result_count, "page": page, "channel": channel},
    )


def break_glass_reason_problem(reason: str) -> str | None:
    """Why `reason` will not do as a break-glass reason, or None."""
    text = " ".join((reason or "").split())
    if not text:
        return "Give the reason you need this record; it is recorded with your name."
    if len(text) < BREAK_GLASS_REASON_MIN_LENGTH:
        return f"Describe the reason in a few words ({BREAK_GLASS_REASON_MIN_LENGTH} characters at least)."
    letters = {char.lower() for char in text if char.isalpha()}
    if len(letters) < 4 or len(text.split()) < 2:
        return "Describe the clinical reason in words, e.g. 'Seen in A&E, needs medication history'."
    return None


def patient_break_glass(*, actor: User, patient: Patient, reason: str) -> BreakGlassAccess:
    """Open a restricted record to `actor` for QUILL_BREAK_GLASS_MINUTES (clinical roles; reason required)."""
    allowed = access.may_write(actor) and actor.organisation_id == patient.organisation_id
    _require_role(actor, allowed=allowed, reason="role_required", patient=patient, attempted=Action.PATIENT_BREAK_GLASS)
    problem = break_glass_reason_problem(reason)
    if problem:
        raise BreakGlassReasonInvalid(problem)
    if not patient.restricted:
        raise NotRestricted()
    reason = " ".join(reason.split())
    now = timezone.now()
    with transaction.atomic():
        grant = BreakGlassAccess.objects.create(
            patient=patient,
            user=actor,
            reason=reason,
            granted_at=now,
            expires_at=now + timedelta(minutes=settings.QUILL_BREAK_GLASS_MINUTES),
        )
        audit_record(
            action=Action.PATIENT_BREAK_GLASS,
            actor=actor,
            patient_id=patient.pk,
            object_type="break_glass_access",
            object_id=grant.pk,
            details={"reason": reason, "expires_at": grant.expires_at.isoformat()},
        )
    return grant


def _care_team_add(*, actor: User, patient: Patient, member: User) -> CareTeamMember:
    membership, created = CareTeamMember.objects.get_or_create(patient=patient, user=member)
    if created:
        audit_record(
            action=Action.PATIENT_CARE_TEAM_ADDED,
            actor=actor,
            patient_id=patient.pk,
            object_type="user",
            object_id=member.pk,
            details={"member": member.email},
        )
    return membership


def patient_care_team_add(*, actor: User, patient: Patient, member: User) -> CareTeamMember:
    """Put a clinical user of the patient's organisation on its care team (managers or care-team members)."""
    if member.organisation_id != patient.organisation_id or not member.is_clinical or not member.is_active:
        raise PatientInvalid(
            {"member": [("Only active clinical staff of this organisation can join a care team.", "invalid_member")]}
        )
    with transaction.atomic():
        return _care_team_add(actor=actor, patient=patient, member=member)


def patient_care_team_remove(*, actor: User, patient: Patient, member: User) -> None:
    with transaction.atomic():
        deleted, _ = CareTeamMember.objects.filter(patient=patient, user=member).delete()
        if deleted:
            audit_record(
                action=Action.PATIENT_CARE_TEAM_REMOVED,
                actor=actor,
                patient_id=patient.pk,
                object_type="user",
                object_id=member.pk,
                details={"member": member.email},
            )
