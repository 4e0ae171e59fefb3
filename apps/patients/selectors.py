"""Reading patients. Organisation isolation and the restricted-record rules live here.

- `patients_visible_to(user)`: records the user may open fully (own organisation;
  restricted ones only for their care team or a live break-glass grant).
- `patient_search(...)`: the list/search results, which also name restricted
  records a clinical user could break the glass for (identity only, masked).
- `patient_get_for(...)`: one record for one purpose, or a typed refusal that is
  itself audited (`access.denied`); `patient_by_nhs_number_for(...)` the same, found by NHS number.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.security_log import security_log_cross_organisation
from apps.audit.services import audit_denied
from apps.patients import access
from apps.patients.access import PatientAction
from apps.patients.errors import BreakGlassRequired, RestrictedRecord, RoleRequired
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient
from apps.patients.nhs_number import normalise_nhs_number
from quill.compiled import CompiledLookup
from quill.errors import NotFound

# The list shows "14 Mar 1958"; clinics also type 14/03/1958, 1958-03-14 and "14 March 1958".
DATE_OF_BIRTH_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d %m %Y",
    "%Y%m%d",
    "%d %b %Y",
    "%d %B %Y",
)


def _organisation_patients(user: User) -> QuerySet[Patient]:
    if not user.is_authenticated or user.organisation_id is None:
        return Patient.objects.none()
    return Patient.objects.filter(organisation_id=user.organisation_id)


def patients_visible_to(user: User) -> QuerySet[Patient]:
    """Patients `user` may open fully: own organisation; restricted only with care team or live grant."""
    if not access.may_read_demographics(user):
        return Patient.objects.none()
    return _organisation_patients(user).filter(access.restricted_access_q(user))


def patients_listable_by(user: User) -> QuerySet[Patient]:
    """What the patient list shows, annotated with `can_open`.

    Clinical users also see restricted records they cannot open (so they can break
    the glass); billing users see only what they can open.
    """
    if not access.may_read_demographics(user):
        return Patient.objects.none()
    base = _organisation_patients(user)
    openable = access.restricted_access_q(user)
    if user.is_clinical:
        return base.annotate(can_open=_q_as_bool(openable))
    return base.filter(openable).annotate(can_open=Value(True, output_field=BooleanField()))


def _q_as_bool(condition: Q) -> Case:
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def parse_date_of_birth(text: str) -> date | None:
    """A date typed the ways clinics write them (1980-01-31, 31/01/1980, …), or None."""
    text = text.strip()
    for fmt in DATE_OF_BIRTH_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class PatientQuery:
    """Parsed search input; `problems` explains terms that could not be understood."""

    text: str = ""
    nhs_number: str = ""
    date_of_birth: date | None = None
    mrn: str = ""
    problems: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.text or self.nhs_number or self.date_of_birth or self.mrn)

    def as_details(self) -> dict[str, str]:
        return {
            key: value
            for key, value in {
                "q": self.text,
                "nhs_number": self.nhs_number,
                "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else "",
                "mrn": self.mrn,
            }.items()
            if value
        }


_DIGITS_AND_SPACES = re.compile(r"^[\d\s-]+$")


def patient_query_parse(*, q: str = "", nhs_number: str = "", date_of_birth: str = "", mrn: str = "") -> PatientQuery:
    """Understand the search box and fields; a free-text `q` that is a date or NHS number is used as one."""
    q, nhs_number, date_of_birth, mrn = (
        (q or "").strip(),
        (nhs_number or "").strip(),
        (date_of_birth or "").strip(),
        (mrn or "").strip(),
    )
    problems: list[str] = []
    birth = None
    if date_of_birth:
        birth = parse_date_of_birth(date_of_birth)
        if birth is None:
            problems.append("Enter the date of birth as 31/01/1980 or 1980-01-31.")
    if nhs_number:
        nhs_number = normalise_nhs_number(nhs_number)
        if not (nhs_number.isascii() and nhs_number.isdigit()):
            problems.append("An NHS number contains only digits (spaces are allowed between groups).")
            nhs_number = ""
    text = q
    if q and birth is None and parse_date_of_birth(q):
        birth, text = parse_date_of_birth(q), ""
    elif q and not nhs_number and _DIGITS_AND_SPACES.match(q) and len(normalise_nhs_number(q)) == 10:
        nhs_number, text = normalise_nhs_number(q), ""
    return PatientQuery(text=text, nhs_number=nhs_number, date_of_birth=birth, mrn=mrn, problems=tuple(problems))


def patient_search(*, user: User, query: PatientQuery) -> QuerySet[Patient]:
    """Search the patients `user` may list: name (partial, any case, given or family), NHS number, birth date, MRN.

    Free text also matches an MRN exactly and an NHS number typed with or without spaces.
    """
    if query.problems:
        return Patient.objects.none()  # a search that could not be understood matches nobody, not everybody
    patients = patients_listable_by(user)
    if query.text:
        # "Marwood, Ellis" is how the list writes a name: the comma separates words like a space.
        for word in re.split(r"[\s,]+", query.text):
            if not word:
                continue
            compact = normalise_nhs_number(word)
            patients = patients.filter(
                Q(given_name__icontains=word)
                | Q(family_name__icontains=word)
                | Q(mrn__iexact=word)
                | (Q(nhs_number__startswith=compact) if compact.isdigit() and len(compact) >= 3 else Q(pk__in=[]))
            )
    if query.nhs_number:
        patients = patients.filter(nhs_number=query.nhs_number)  # stored without spaces
    if query.date_of_birth:
        patients = patients.filter(date_of_birth=query.date_of_birth)
    if query.mrn:
        patients = patients.filter(mrn__iexact=query.mrn)
    return patients.order_by("family_name", "given_name", "date_of_birth", "pk")


def _as_uuid(patient_id: Any) -> uuid.UUID | None:
    if isinstance(patient_id, uuid.UUID):
        return patient_id
    try:
        return uuid.UUID(str(patient_id))
    except (ValueError, TypeError, AttributeError):
        return None


def _deny(
    *, user: User, error: Exception, reason: str, patient: Patient | None, requested_id: Any, action: str
) -> NoReturn:
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=user,
        reason=reason,
        organisation_id=user.organisation_id,
        patient_id=patient.pk if patient else None,
        object_type="patient",
        object_id=str(requested_id)[:64],
        details={"attempted": action},
    )
    raise error


def patient_get_for(*, user: User, patient_id: uuid.UUID | str, action: str) -> Patient:
    """The patient `user` may use for `action`, or a typed refusal (audited as `access.denied`).

    Another organisation's patient and an unknown id are the same NotFound (no
    existence leak). Within the organisation: a missing role is RoleRequired; a
    restricted record is BreakGlassRequired for clinical roles, RestrictedRecord
    for others.
    """
    if action not in PatientAction.ALL:
        raise ValueError(f"Unknown patient action {action!r}")
    pk = _as_uuid(patient_id)
    patient = _organisation_patient(user, pk) if pk else None
    if patient is None:
        _log_if_another_organisations(user=user, patient_id=pk, action=action)
        not_found = NotFound("No such patient.")
        _deny(user=user, error=not_found, reason="not_found", patient=None, requested_id=patient_id, action=action)
    refusal = _refusal(user, patient, action)
    if refusal is not None:
        error, reason = refusal
        _deny(user=user, error=error, reason=reason, patient=patient, requested_id=patient.pk, action=action)
    return patient


def patient_by_nhs_number_for(*, user: User, nhs_number: str, action: str) -> Patient:
    """The patient of `user`'s organisation with this NHS number, for `action` (checks as `patient_get_for`).

    No such patient in the organisation is NotFound (audited like an unknown id); another
    organisation's patient with the same number is never looked at.
    """
    number = normalise_nhs_number(nhs_number)
    patient_id = (
        _organisation_patients(user).filter(nhs_number=number).values_list("pk", flat=True).first() if number else None
    )
    if patient_id is None:
        if action not in PatientAction.ALL:
            raise ValueError(f"Unknown patient action {action!r}")
        not_found = NotFound("No patient of yours has that NHS number.")
        _deny(user=user, error=not_found, reason="not_found", patient=None, requested_id="nhs_number", action=action)
    return patient_get_for(user=user, patient_id=patient_id, action=action)


def _patient_by_id(pk: uuid.UUID) -> QuerySet[Patient]:
    return Patient.objects.filter(pk=pk).order_by()


# Every patient-scoped API request runs this lookup: compiled by Django once per process
# (quill/compiled.py; tests/patients/test_selectors.py checks it against the ORM).
PATIENT_LOOKUP = CompiledLookup(_patient_by_id, field=Patient._meta.pk, placeholder=uuid.UUID(int=0))


def _organisation_patient(user: User, pk: uuid.UUID) -> Patient | None:
    """One patient of the user's organisation by primary key (another organisation's is None)."""
    if not user.is_authenticated or user.organisation_id is None:
        return None
    patient = PATIENT_LOOKUP.get(pk)
    return patient if patient is not None and patient.organisation_id == user.organisation_id else None


def _log_if_another_organisations(*, user: User, patient_id: uuid.UUID | None, action: str) -> None:
    """Tell the installation's security log (never the caller's chain) that the id is another organisation's."""
    if patient_id is None:
        return
    owner_organisation_id = Patient.objects.filter(pk=patient_id).values_list("organisation_id", flat=True).first()
    if owner_organisation_id is not None and owner_organisation_id != user.organisation_id:
        security_log_cross_organisation(
            actor=user,
            object_type="patient",
            object_id=patient_id,
            owner_organisation_id=owner_organisation_id,
            attempted=f"patient.{action}",
        )


def _refusal(user: User, patient: Patient, action: str) -> tuple[Exception, str] | None:
    if action == PatientAction.VIEW and not access.may_read_demographics(user):
        return RoleRequired(), "role_required"
    if action in (PatientAction.EDIT, PatientAction.BREAK_GLASS) and not access.may_write(user):
        return RoleRequired("Only clinical staff can do this."), "role_required"
    if action == PatientAction.ACCESS_REPORT and not (user.is_clinical or user.is_manager):
        return RoleRequired("Only clinical staff and managers can see who opened this record."), "role_required"
    if action == PatientAction.CARE_TEAM and not (user.is_manager or access.is_on_care_team(user, patient)):
        return RoleRequired("Only managers and the care team can change the care team."), "role_required"
    needs_open = action in (PatientAction.VIEW, PatientAction.EDIT) or (
        action == PatientAction.ACCESS_REPORT and not user.is_manager
    )
    if needs_open and not access.may_open_restricted(user, patient):
        if user.is_clinical:
            return BreakGlassRequired(), "break_glass_required"
        return RestrictedRecord(), "restricted_record"
    return None


def care_team_of(*, patient: Patient) -> QuerySet[CareTeamMember]:
    return CareTeamMember.objects.filter(patient=patient).select_related("user").order_by("user__full_name")


def care_team_member_candidate_get(*, patient: Patient, user_id: Any) -> User:
    """A user of the patient's organisation (active or not), to add to or remove from its care team."""
    member = User.objects.filter(pk=user_id, organisation_id=patient.organisation_id).first()
    if member is None:
        raise NotFound()
    return member


def care_team_candidates(*, patient: Patient) -> list[User]:
    """Clinical users of the patient's organisation not yet on its care team."""
    users = (
        User.objects.filter(organisation_id=patient.organisation_id, is_active=True)
        .exclude(care_of__patient=patient)
        .order_by("full_name")
    )
    return [user for user in users if user.is_clinical]  # roles is JSON; filter portably


def break_glass_live_grant(*, user: User, patient: Patient) -> BreakGlassAccess | None:
    return (
        BreakGlassAccess.objects.filter(patient=patient, user=user, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .first()
    )


def break_glass_grants_visible_to(user: User) -> QuerySet[BreakGlassAccess]:
    """Break-glass grants of the user's organisation, newest first: managers only (superusers: all)."""
    grants = BreakGlassAccess.objects.select_related("patient", "user").order_by("-granted_at", "-pk")
    if user.is_superuser:
        return grants
    if not user.is_manager or user.organisation_id is None:
        return grants.none()
    return grants.filter(patient__organisation_id=user.organisation_id)
