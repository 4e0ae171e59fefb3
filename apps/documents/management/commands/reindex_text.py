"""Read documents' text again (or for the first time) and index it for search, here and now.

    manage.py reindex_text [--organisation ID] [--missing | --all] [--dry-run]

* ``--missing`` (default): available documents whose text is still pending or failed (a backfill
  after upgrading, or after installing Tesseract);
* ``--all``: every available document (after changing an organisation's OCR languages, or to make
  searchable PDF/A renditions again that verify_storage found missing).

Each document is read as the worker reads it (text layer, else OCR; the same limits), one at a
time, with a progress bar; the results are recorded a batch of documents at a time (one
transaction for up to 50 documents or 2 seconds of reading, services/text.py `TextReindex`). The
summary gives pages per second. Documents whose text could not be read are listed with their
reason and make the exit status 1.
"""

from __future__ import annotations

import time
from collections import Counter

from django.core.management.base import CommandParser

from apps.accounts.options import organisation_id_option
from apps.documents.models import Document, TextStatus
from apps.documents.selectors import documents_to_reindex
from apps.documents.services.text import TextReindex
from apps.files.errors import StorageUnavailable
from quill.commands import QuillCommand, Unable


class Command(QuillCommand):
    help = "Read documents' text (text layer or OCR) and index it for search; --missing (default) or --all."
    changes_state = True

    def add_command_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="only text pending or failed (the default)")
        which.add_argument("--all", action="store_true", help="every available document")
        parser.add_argument("--organisation", metavar="ID", help="only this organisation's documents (its UUID)")

    def run(self, *, all: bool, organisation: str | None, **options) -> None:
        organisation_id = organisation_id_option(organisation)
        documents = documents_to_reindex(organisation_id=organisation_id, missing_only=not all)
        ids = list(documents.values_list("pk", flat=True))
        if self.dry_run:
            self.summary(f"Would read the text of {len(ids)} document(s).")
            return
        started = time.monotonic()
        reindex = TextReindex(ids)
        try:
            for pk in self.track(ids, total=len(ids), description="Reading text"):
                reindex.read(pk)
            reindex.flush()
        except StorageUnavailable as exc:
            raise Unable(
                f"The document store cannot be reached; stopped after {len(reindex.outcomes)} document(s)."
            ) from exc
        totals: Counter[str] = Counter(reindex.outcomes.values())
        for pk, outcome in reindex.outcomes.items():
            if outcome == TextStatus.FAILED:
                self._report_failure(pk)
        elapsed = max(time.monotonic() - started, 1e-9)
        pages = sum(
            Document.objects.filter(pk__in=ids, text_status=TextStatus.DONE).values_list("text_page_count", flat=True)
        )
        self.summary(
            f"Read {len(ids)} document(s): {totals[TextStatus.DONE]} with text, {totals[TextStatus.NO_TEXT]} "
            f"without, {totals[TextStatus.FAILED]} failed, {totals['skipped']} skipped; {pages} page(s) in "
            f"{elapsed:.1f} s ({pages / elapsed:.1f} pages/s).",
            problems=totals[TextStatus.FAILED],
        )

    def _report_failure(self, pk) -> None:
        code, reason = Document.objects.filter(pk=pk).values_list("text_error_code", "text_error").get()
        self.stdout.write(f"{'FAILED':<8} document {pk}: {code}: {reason}")
