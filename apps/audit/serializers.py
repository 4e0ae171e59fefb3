from __future__ import annotations

from rest_framework import serializers

from apps.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "chain",
            "sequence",
            "occurred_at",
            "organisation_id",
            "actor_id",
            "actor_username",
            "patient_id",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "ip",
            "user_agent",
            "request_id",
            "details",
            "prev_hash",
            "hash",
        )
        read_only_fields = fields
