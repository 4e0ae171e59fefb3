"""Upload the shipped `quill_letter.v1` operational template to EHRbase (once per deployment)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from apps.letters.errors import EhrbaseError
from apps.letters.openehr.template import TEMPLATE_ID, load_letter_template, parse_template
from apps.letters.push import ehrbase_client
from quill.commands import QuillCommand


class Command(QuillCommand):
    help = "Upload the quill_letter.v1 template to EHRbase; 'already there' (409) is success."
    changes_state = True  # --dry-run: check the template and settings; send nothing

    def run(self, **options) -> None:
        if not settings.QUILL_EHRBASE_URL:
            raise CommandError("QUILL_EHRBASE_URL is not set; there is no EHRbase to upload to.")
        opt = load_letter_template()
        info = parse_template(opt)
        if self.dry_run:
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
