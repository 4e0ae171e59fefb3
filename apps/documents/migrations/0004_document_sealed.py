"""Seal final letters' PDFs: they change only by amending the letter (docs/letters.md)."""

from django.db import migrations, models


def seal_letter_documents(apps, schema_editor):
    """Every version in the lineage of a document that renders a final letter, the superseded ones included."""
    Document = apps.get_model("documents", "Document")
    Letter = apps.get_model("letters", "Letter")
    lineages = Document.objects.filter(
        pk__in=Letter.objects.filter(status="final", document__isnull=False).values("document_id")
    ).values("lineage_id")
    Document.objects.filter(lineage_id__in=lineages).update(sealed=True)


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0003_document_organisation_list"),
        ("letters", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="sealed",
            field=models.BooleanField(
                default=False,
                help_text="The signed rendering of another record (a final letter's PDF): it changes only by "
                "amending that record, never through the document routes.",
            ),
        ),
        migrations.RunPython(seal_letter_documents, migrations.RunPython.noop),
    ]
