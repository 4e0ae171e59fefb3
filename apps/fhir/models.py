"""What Quill keeps for IHE MHD: per-organisation document metadata, and received SubmissionSets.

``MhdSettings`` holds the XDS metadata an organisation's documents carry but Quill's
document rows do not (confidentiality, language, facility type, practice setting); an
organisation without a row gets the defaults below. ``SubmissionSet`` is one ITI-65
Provide Document Bundle as received: it answers ITI-66 List searches and makes a resent
bundle return the original result (idempotency), and ``SubmissionSetEntry`` links each
stored document to the identifiers its submitter gave it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.documents.models import Document
from apps.patients.models import Patient

SNOMED_SYSTEM = "http://snomed.info/sct"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


class Confidentiality(models.TextChoices):
    """HL7 v3 Confidentiality, the value set MHD's ``securityLabel`` examples use."""

    UNRESTRICTED = "U", "unrestricted"
    LOW = "L", "low"
    MODERATE = "M", "moderate"
    NORMAL = "N", "normal"
    RESTRICTED = "R", "restricted"
    VERY_RESTRICTED = "V", "very restricted"


class MhdSettings(models.Model):
    """An organisation's MHD document metadata; the defaults suit a general outpatient clinic."""

    organisation = models.OneToOneField(
        Organisation, primary_key=True, on_delete=models.CASCADE, related_name="mhd_settings"
    )
    confidentiality = models.CharField(
        max_length=1,
        choices=Confidentiality.choices,
        default=Confidentiality.NORMAL,
        help_text="DocumentReference.securityLabel (XDS confidentialityCode).",
    )
    language = models.CharField(
        max_length=35, default="en-GB", help_text="BCP 47 language of the documents (attachment.language)."
    )
    facility_type_system = models.CharField(max_length=200, default=SNOMED_SYSTEM)
    facility_type_code = models.CharField(max_length=64, default="35971002")
    facility_type_display = models.CharField(max_length=200, default="Ambulatory care site")
    practice_setting_system = models.CharField(max_length=200, default=SNOMED_SYSTEM)
    practice_setting_code = models.CharField(max_length=64, default="394802001")
    practice_setting_display = models.CharField(max_length=200, default="General medicine")

    class Meta:
        verbose_name = "MHD settings"
        verbose_name_plural = "MHD settings"

    def __str__(self) -> str:
        return f"MHD settings of {self.organisation_id}"


class SubmissionSet(models.Model):
    """One ITI-65 Provide Document Bundle, as received and stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="submission_sets")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="submission_sets")
    unique_id = models.CharField(max_length=255, help_text="The submitter's uniqueId (an urn:oid:).")
    entry_uuid = models.CharField(max_length=255, blank=True, help_text="The submitter's entryUUID, if it sent one.")
    source_id = models.CharField(max_length=255, help_text="The sourceId extension: who submitted it.")
    title = models.CharField(max_length=255, blank=True)
    submitted_at = models.DateTimeField(help_text="List.date: when the source submitted it.")
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    response = models.JSONField(help_text="The transaction-response Bundle, returned again for a resent bundle.")

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "unique_id"], name="submission_set_unique_id"),
        ]
        indexes = [models.Index(fields=["organisation", "patient", "-received_at"], name="submission_set_patient")]

    def __str__(self) -> str:
        return self.unique_id


class SubmissionSetEntry(models.Model):
    """A document received in a SubmissionSet, with the identifiers its submitter gave it."""

    document = models.OneToOneField(Document, primary_key=True, on_delete=models.PROTECT, related_name="mhd_entry")
    submission_set = models.ForeignKey(SubmissionSet, on_delete=models.PROTECT, related_name="entries")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    master_identifier_system = models.CharField(max_length=255)
    master_identifier_value = models.CharField(max_length=255)
    position = models.PositiveIntegerField(help_text="Order of the DocumentReference in the bundle.")

    class Meta:
        ordering = ["submission_set", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "master_identifier_system", "master_identifier_value"],
                name="submission_entry_master_identifier",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.master_identifier_system}|{self.master_identifier_value}"
