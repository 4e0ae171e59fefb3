"""The record's last clinical date on the patient row, filled from the documents already stored.

Retention needs the latest clinical date of the patient's whole record on every upload; reading
it from the patient row (locked anyway) instead of ``MAX(document_date)`` over the documents
makes an upload's cost independent of the record's size. The backfill reads every document once
(one grouped scan); patients without documents keep NULL.
"""

from django.db import migrations, models

BACKFILL = """
UPDATE patients_patient
SET last_clinical_date = latest.last_date
FROM (
    SELECT patient_id, MAX(document_date) AS last_date
    FROM documents_document
    GROUP BY patient_id
) AS latest
WHERE patients_patient.id = latest.patient_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0003_restricted_index"),
        # The backfill reads the documents table as its newest migration before this one left it.
        ("documents", "0005_document_date_given"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="last_clinical_date",
            field=models.DateField(
                blank=True,
                default=None,
                editable=False,
                help_text="The latest clinical date of any of the patient's documents (deleted and older "
                "versions included): the retention rule's last clinical date, kept under the patient row's lock "
                "by apps.documents.services.retention so an upload need not read the whole record. Empty: no "
                "documents.",
                null=True,
            ),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
    ]
