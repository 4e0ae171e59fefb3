"""Seal the PDFs of letters finalised before documents could be sealed (docs/letters.md)."""

from django.db import migrations


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
        ("letters", "0002_letter_text_limits"),
        ("documents", "0004_document_sealed"),
    ]

    operations = [migrations.RunPython(seal_letter_documents, migrations.RunPython.noop)]
