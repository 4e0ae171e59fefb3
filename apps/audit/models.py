"""The append-only, hash-chained audit log.

One chain per organisation (plus one platform chain, key "platform", for events
with no organisation such as a failed sign-in for an unknown email). Each event
stores prev_hash and hash = sha256(prev_hash || canonical JSON of its fields).
PostgreSQL triggers (see migrations) reject UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


PLATFORM_CHAIN = "platform"
GENESIS_HASH = "0" * 64


class ChainHead(models.Model):
    """The latest sequence and hash of one chain; its row lock serialises appends."""

    chain = models.CharField(max_length=64, primary_key=True)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.chain} #{self.sequence}"


class AuditEvent(models.Model):
    chain = models.CharField(max_length=64)
    sequence = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    organisation_id = models.UUIDField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=254, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["chain", "sequence"]
        constraints = [models.UniqueConstraint(fields=["chain", "sequence"], name="audit_chain_sequence_unique")]
        indexes = [
            models.Index(fields=["organisation_id", "patient_id", "-occurred_at"], name="audit_patient_time"),
            models.Index(fields=["organisation_id", "action", "-occurred_at"], name="audit_action_time"),
            models.Index(fields=["organisation_id", "actor_id", "-occurred_at"], name="audit_actor_time"),
            models.Index(fields=["organisation_id", "object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.sequence} {self.action} {self.outcome}"
