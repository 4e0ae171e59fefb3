"""Documents can be sealed: the signed rendering of another record (a final letter's PDF)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0003_document_organisation_list"),
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
    ]
