"""Clinical letters: drafted, finalised (immutable), and amended by new letters."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.patients.models import Patient


class LetterStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    FINAL = "final", "Final"


class Letter(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="letters")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="letters")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="letters",
        help_text="Who started the draft.",
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The clinician who finalised (signed) the letter; the PDF and the openEHR composition name them.",
    )
    recipient_name = models.CharField(max_length=200, blank=True)
    recipient_role = models.CharField(max_length=200, blank=True)
    recipient_address = models.TextField(max_length=2000, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(max_length=100_000, blank=True)
    clinical_date = models.DateField(default=timezone.localdate)
    encounter_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=LetterStatus.choices, default=LetterStatus.DRAFT)
    amends = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="amendments")
    document = models.OneToOneField(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="letter"
    )
    ehr_id = models.CharField("EHR id", max_length=64, blank=True)
    composition_uid = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    finalised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "patient", "-created_at"], name="letter_patient")]

    def __str__(self) -> str:
        return self.subject or "(untitled letter)"

    @property
    def signatory(self):
        """Who signs: the clinician who finalised it, or for a draft its author (who would sign it now)."""
        return self.signed_by or self.author


def letter_max_length(field_name: str) -> int:
    """The longest text a letter field takes: the one limit the form, the API and the services apply.

    On the two TextFields the limit is not in the database; Django only checks it in forms.
    """
    field = Letter._meta.get_field(field_name)
    assert isinstance(field, models.Field) and field.max_length is not None, f"Letter.{field_name} has no max_length"
    return field.max_length
