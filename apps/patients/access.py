"""Who may do what with a patient record: one small predicate per rule.

Used by selectors (reads) and services (writes) so both apply the same rules.
See docs/security.md for the reasoning.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.patients.models import BreakGlassAccess, CareTeamMember, Patient


class PatientAction:
    """What the caller intends to do with the record it asks for."""

    VIEW = "view"  # read identifiers and demographics (portal page, API detail)
    EDIT = "edit"  # change demographics (clinical roles)
    BREAK_GLASS = "break_glass"  # open a restricted record with a reason (clinical roles)
    ACCESS_REPORT = "access_report"  # who viewed or changed the record
    CARE_TEAM = "care_team"  # add or remove care-team members

    ALL = (VIEW, EDIT, BREAK_GLASS, ACCESS_REPORT, CARE_TEAM)


def has_any_role(user: User) -> bool:
    return bool(user.roles)


def may_read_demographics(user: User) -> bool:
    return user.is_clinical or user.has_role("billing")


def may_write(user: User) -> bool:
    return user.is_clinical


def _opened_for(user: User) -> Q:
    """Patient rows `user` may open although restricted: care-team membership or a live grant."""
    on_care_team = Exists(CareTeamMember.objects.filter(patient=OuterRef("pk"), user=user))
    live_grant = Exists(
        BreakGlassAccess.objects.filter(patient=OuterRef("pk"), user=user, expires_at__gt=timezone.now())
    )
    return Q(on_care_team) | Q(live_grant)


def restricted_access_q(user: User) -> Q:
    """Rows `user` may open fully: unrestricted, or restricted with care-team membership or a live grant."""
    return Q(restricted=False) | _opened_for(user)


def restricted_closed_to(user: User) -> QuerySet[Patient]:
    """Restricted patients `user` may not open: the complement of `restricted_access_q`.

    Normally a handful of rows (read through the partial index `patient_restricted`), so
    other tables apply the rule as NOT EXISTS against it instead of joining every patient.
    """
    return Patient.objects.filter(restricted=True).exclude(_opened_for(user))


def is_on_care_team(user: User, patient: Patient) -> bool:
    return CareTeamMember.objects.filter(patient=patient, user=user).exists()


def has_live_grant(user: User, patient: Patient) -> bool:
    return BreakGlassAccess.objects.filter(patient=patient, user=user, expires_at__gt=timezone.now()).exists()


def may_open_restricted(user: User, patient: Patient) -> bool:
    return not patient.restricted or is_on_care_team(user, patient) or has_live_grant(user, patient)
