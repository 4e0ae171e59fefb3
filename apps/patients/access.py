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


def restricted_closed_sql(user: User, patient_column: str) -> tuple[str, dict[str, object]]:
    """`restricted_closed_to(user)` as a ready SQL condition on `patient_column` (true when that
    patient is NOT closed to `user`), with named parameters: for hot raw statements (document search)
    that would otherwise compile the queryset on every call. tests/patients/test_restricted_sql.py
    keeps the two equal."""
    # Table names and a column name of our own; the values are parameters.
    sql = (
        f"NOT EXISTS (SELECT 1 FROM {Patient._meta.db_table} closed WHERE closed.id = {patient_column} "  # noqa: S608
        "AND closed.restricted "
        f"AND NOT EXISTS (SELECT 1 FROM {CareTeamMember._meta.db_table} member "
        "WHERE member.patient_id = closed.id AND member.user_id = %(closed_user)s) "
        f"AND NOT EXISTS (SELECT 1 FROM {BreakGlassAccess._meta.db_table} grant_ "
        "WHERE grant_.patient_id = closed.id AND grant_.user_id = %(closed_user)s "
        "AND grant_.expires_at > %(closed_now)s))"
    )
    return sql, {"closed_user": user.pk, "closed_now": timezone.now()}


def is_on_care_team(user: User, patient: Patient) -> bool:
    return CareTeamMember.objects.filter(patient=patient, user=user).exists()


def has_live_grant(user: User, patient: Patient) -> bool:
    return BreakGlassAccess.objects.filter(patient=patient, user=user, expires_at__gt=timezone.now()).exists()


def may_open_restricted(user: User, patient: Patient) -> bool:
    return not patient.restricted or is_on_care_team(user, patient) or has_live_grant(user, patient)
