"""The database itself refuses UPDATE, DELETE and TRUNCATE on audit events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET details = '{\"edited\": true}'",
        "UPDATE audit_auditevent SET action = 'patient.viewed' WHERE sequence = 1",
        "DELETE FROM audit_auditevent",
        "DELETE FROM audit_auditevent WHERE sequence = 2",
        "TRUNCATE audit_auditevent",
    ],
    ids=["update-all", "update-one", "delete-all", "delete-one", "truncate"],
)
def test_raw_sql_changes_are_refused_by_the_database(organisation, statement):
    # given two recorded events
    audit_record(action="patient.viewed", organisation_id=organisation.pk)
    audit_record(action="patient.viewed", organisation_id=organisation.pk)
    before = list(AuditEvent.objects.order_by("sequence").values())

    # when anyone tries to change or remove them with SQL
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    # then nothing changed
    assert list(AuditEvent.objects.order_by("sequence").values()) == before


def test_orm_update_and_delete_are_refused(organisation):
    event = audit_record(action="patient.viewed", organisation_id=organisation.pk)

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()

    assert AuditEvent.objects.get(pk=event.pk).action == "patient.viewed"
