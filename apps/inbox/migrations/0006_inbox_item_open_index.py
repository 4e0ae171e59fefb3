"""The inbox page reads an organisation's open items newest first from this index, without a sort."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0005_item_merged_into"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="inboxitem",
            index=models.Index(
                condition=models.Q(("state__in", ("scanning", "ready"))),
                fields=["organisation", "-received_at", "-id"],
                name="inbox_item_open",
            ),
        ),
    ]
