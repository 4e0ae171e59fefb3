"""One row per pending push to an external system, written in the same
transaction as the change it announces, relayed by Celery with retries,
backoff and a dead-letter state."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Target(models.TextChoices):
    FHIR = "fhir", "FHIR server"
    OPENEHR = "openehr", "openEHR (EHRbase)"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Delivered"
    DEAD = "dead", "Dead-lettered"


class OutboxMessage(models.Model):
    organisation_id = models.UUIDField(null=True, blank=True)
    target = models.CharField(max_length=16, choices=Target.choices)
    kind = models.CharField(max_length=64, help_text="What to push, e.g. document_reference, letter_composition.")
    object_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    last_response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.target}:{self.kind}:{self.object_id} ({self.status})"
