"""Upload the shipped `quill_letter.v1` operational template to EHRbase (once per deployment)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.letters.errors import EhrbaseError
from apps.letters.openehr.template import TEMPLATE_ID, load_letter_template, parse_template
from apps.letters.push import ehrbase_client


class Command(BaseCommand):
    help = "Upload the quill_letter.v1 template to EHRbase; 'already there' (409) is success."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Check the template and settings; send nothing.")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        if not settings.QUILL_EHRBASE_URL:
            raise CommandError("QUILL_EHRBASE_URL is not set; there is no EHRbase to upload to.")
        opt = load_letter_template()
        info = parse_template(opt)
        if dry_run:
            self.stdout.write(
                f"Would upload template {info.template_id} ({len(info.archetype_ids)} archetypes, "
                f"{len(opt):,} bytes) to {settings.QUILL_EHRBASE_URL}."
            )
            return
        try:
            result = ehrbase_client().upload_template(opt)
        except EhrbaseError as exc:
            raise CommandError(f"Uploading template {TEMPLATE_ID} failed: {exc.message}") from exc
        if result == "created":
            self.stdout.write(self.style.SUCCESS(f"Template {TEMPLATE_ID} uploaded (created)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Template {TEMPLATE_ID} is already there; nothing to do."))
