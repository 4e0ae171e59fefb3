"""The demo's inbox: a few invented letters dropped into the demo's watched folder and taken in.

They go through the folder source exactly as a scanner's files would (``folder_pass``), so
`make run` shows the inbox without an IMAP server: one letter that names Ellis Marwood by
NHS number and date of birth, a three-page scan to split, and a referral that names Tobias
Quenby by name and date of birth only.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from apps.accounts.models import Organisation
from apps.inbox.models import InboxItem, IntakeSource, ItemState, SourceKind
from apps.inbox.services.preparation import inbox_prepare
from apps.inbox.sources.folder import FolderWatcher, folder_pass

SOURCE_NAME = "Reception scanner"

LETTERS: dict[str, list[list[str]]] = {
    "scan-0001.pdf": [
        ["Cardiology outpatient letter", "Patient: Ellis Marwood", "Date of birth: 14/03/1958",
         "NHS number: 999 234 5675", "Clinic date: 2 December 2026", "Seen for review of palpitations."],
    ],
    "scan-0002.pdf": [
        ["Discharge summary", "Ellis Marwood, born 14/03/1958, NHS 999 234 5675", "Admitted 20/11/2026."],
        ["Discharge summary (continued)", "Medication on discharge: as listed."],
        ["Blood results", "Ellis Marwood 14/03/1958", "Haemoglobin 131 g/L", "Sample taken 24/11/2026."],
    ],
    "scan-0003.pdf": [
        ["Referral from community physiotherapy", "Re: Tobias Quenby, date of birth 21 June 2012",
         "Please see this young person about knee pain.", "Dated 30/11/2026."],
    ],
}  # fmt: skip


def _pdf(pages: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    _, height = A4
    for lines in pages:
        canvas.setFont("Helvetica", 12)
        for number, line in enumerate(lines):
            canvas.drawString(60, height - 80 - 18 * number, line)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def seed_inbox(*, organisation: Organisation) -> bool:
    """Take the demo letters in through the demo's folder source, once. True if they were added."""
    folder = Path(settings.VAR_DIR) / "intake"
    source = IntakeSource.objects.filter(organisation=organisation, name=SOURCE_NAME).first()
    if source is not None and source.items.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    source = source or IntakeSource.objects.create(
        organisation=organisation, name=SOURCE_NAME, kind=SourceKind.FOLDER, folder_path=str(folder)
    )
    for name, pages in LETTERS.items():
        (folder / name).write_bytes(_pdf(pages))
    watcher = FolderWatcher(source, stable_seconds=0)
    watcher.ready()
    folder_pass(watcher)
    for item in InboxItem.objects.filter(source=source, state=ItemState.READY):
        inbox_prepare(item_id=item.pk)  # at once, as the embedded run has no worker to wait for
    return True
