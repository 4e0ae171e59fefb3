"""What Quill keeps for IHE MHD: per-organisation document metadata, and received SubmissionSets.

``MhdSettings`` holds the XDS metadata an organisation's documents carry but Quill's
document rows do not (confidentiality, language, facility type, practice setting), and
whether an ITI-65 bundle for a patient Quill cannot resolve goes to the inbox
(``unknown_patient_to_inbox``, off by default); an organisation without a row gets the
defaults below. ``SubmissionSet`` is one ITI-65
Provide Document Bundle as received: it answers ITI-66 List searches and makes a resent
bundle return the original result (idempotency), and ``SubmissionSetEntry`` links each
stored document to the identifiers its submitter gave it.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.documents.models import Document
from apps.patients.models import Patient

SNOMED_SYSTEM = "http://snomed.info/sct"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
# FHIR's own patterns for a language tag (BCP 47, as attachment.language), a code and a uri.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_URI = re.compile(r"[a-z][a-z0-9+.-]*:\S+", re.IGNORECASE)


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
    unknown_patient_to_inbox = models.BooleanField(
        default=False,
        help_text="ITI-65: take a bundle whose patient is not one of the organisation's into the inbox as "
        "unfiled items (for someone to file), instead of refusing it as an unresolved reference.",
    )

    class Meta:
        verbose_name = "MHD settings"
        verbose_name_plural = "MHD settings"

    def __str__(self) -> str:
        return f"MHD settings of {self.organisation_id}"

    def clean(self) -> None:
        """Every value goes into each DocumentReference Quill serves, so it must be valid FHIR there.

        A language that is not a BCP 47 tag, or a code or system with stray spaces, would make
        every one of the organisation's DocumentReferences invalid; refused here instead.
        """
        errors: dict[str, str] = {}
        if not _LANGUAGE_TAG.fullmatch(self.language or ""):
            errors["language"] = "Enter a BCP 47 language tag, such as en-GB or cy."
        for name in ("facility_type_code", "practice_setting_code"):
            if not _CODE.fullmatch(getattr(self, name) or ""):
                errors[name] = "Enter a code without leading, trailing or repeated spaces."
        for name in ("facility_type_system", "practice_setting_system"):
            if not _URI.fullmatch(getattr(self, name) or ""):
                errors[name] = "Enter the code system's URI (no spaces), such as http://snomed.info/sct."
        for name in ("facility_type_display", "practice_setting_display"):
            if not (getattr(self, name) or "").strip():
                errors[name] = "Enter the name clinicians know this code by."
        if errors:
            raise ValidationError(errors)


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
