"""Letters record who signed them (whoever finalised), apart from who started the draft."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def signed_by_author(apps, schema_editor):
    """Before this field Quill printed the author on the PDF, so that is who signed the final letters."""
    Letter = apps.get_model("letters", "Letter")
    Letter.objects.filter(status="final", signed_by__isnull=True).update(signed_by=F("author"))


class Migration(migrations.Migration):
    dependencies = [
        ("letters", "0003_seal_final_letter_documents"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="letter",
            name="signed_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The clinician who finalised (signed) the letter; the PDF and the openEHR composition "
                "name them.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="letter",
            name="author",
            field=models.ForeignKey(
                help_text="Who started the draft.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="letters",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(signed_by_author, migrations.RunPython.noop),
    ]
