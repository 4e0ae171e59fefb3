from __future__ import annotations

from rest_framework import serializers

from apps.audit.hashing import HASHED_FIELDS
from apps.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", *HASHED_FIELDS, "prev_hash", "hash")
        read_only_fields = fields
