"""Patients, their care teams and break-glass access to restricted records."""

from __future__ import annotations

import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.patients.nhs_number import validate_nhs_number


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class Patient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="patients")
    nhs_number = models.CharField("NHS number", max_length=10, blank=True, validators=[validate_nhs_number])
    mrn = models.CharField("MRN", max_length=64, blank=True, help_text="The clinic's own record number.")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    restricted = models.BooleanField(
        default=False, help_text="Only the care team may open this record; others must break the glass."
    )
    fhir_id = models.CharField("FHIR id", max_length=64, blank=True)
    photo_key = models.CharField(max_length=300, blank=True)
    avatar_key = models.CharField(max_length=300, blank=True)
    # Written only under the row's lock (apps/documents/services/retention.py). Saving an existing
    # patient must name its fields (update_fields), as patient_update does: a whole-row save of an
    # instance read earlier would put back an older date and shorten retention.
    last_clinical_date = models.DateField(
        null=True,
        blank=True,
        default=None,
        editable=False,
        help_text="The latest clinical date of any of the patient's documents (deleted and older versions "
        "included): the retention rule's last clinical date, kept under the patient row's lock by "
        "apps.documents.services.retention so an upload need not read the whole record. Empty: no documents.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "nhs_number"],
                condition=~Q(nhs_number=""),
                name="patient_nhs_number_unique_in_organisation",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "family_name", "given_name"], name="patient_name"),
            models.Index(fields=["organisation", "date_of_birth"], name="patient_birth_date"),
            models.Index(fields=["organisation", "mrn"], name="patient_mrn"),
            # The few restricted records, for the NOT EXISTS in apps.patients.access.restricted_closed_to.
            models.Index(fields=["id"], condition=Q(restricted=True), name="patient_restricted"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name}"

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def age_on(self, day: date) -> str:
        """Age as the NHS patient banner shows it: days under a month, months under two years, then years."""
        born = self.date_of_birth
        years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        if years >= 2:
            return f"{years} years"
        months = (day.year - born.year) * 12 + day.month - born.month - (day.day < born.day)
        if months >= 1:
            return f"{months} month{'s' if months != 1 else ''}"
        days = (day - born).days
        return f"{days} day{'s' if days != 1 else ''}"

    @property
    def age(self) -> str:
        return self.age_on(timezone.localdate())

    @property
    def nhs_number_display(self) -> str:
        n = self.nhs_number
        return f"{n[:3]} {n[3:6]} {n[6:]}" if len(n) == 10 else n


class CareTeamMember(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_of")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "user"], name="care_team_unique")]


class BreakGlassAccess(models.Model):
    """A time-limited opening of a restricted record by someone outside its care team."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="break_glass")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass")
    reason = models.TextField()
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at"]
        verbose_name = "break-glass access"
        verbose_name_plural = "break-glass accesses"
        indexes = [models.Index(fields=["patient", "user", "expires_at"], name="break_glass_lookup")]
