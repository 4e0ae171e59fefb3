"""Inbox ingest rate (issue 19): the watched folder and IMAP against the API upload, same files, same concurrency.

The same N PDFs (default 100 of 100 KiB, random image bytes: every file different) go in four
ways, one file at a time (concurrency 1, as `run_intake` takes a folder or a mailbox), all
in this process, on PostgreSQL, SeaweedFS (S3) and Redis (the Celery queue; no worker runs, so
what is measured ends at "stored and queued"):

- `POST /api/documents/` (multipart, token, Django's full stack in-process): the raw component;
- `POST /api/inbox/` (the inbox's API source, the same stack);
- the watched folder: `folder_pass` over the files already in the folder (each file's pick-up,
  hashing, checks, S3 put, row, audit event, queueing and acknowledgement; the stability wait before
  pick-up is policy, not work, and is left out);
- IMAP: `imap_pass` over N messages with one attachment each, already delivered to a dovecot on
  loopback (fetch, the `.eml` kept, the attachment as an item, the move to the processed folder).

Each round gives every way a fresh organisation (byte-identical files would otherwise be flagged as
duplicates) and the ways run in turn, rotated each round. Prints files/s per way (median of the
rounds), the ratio to the API upload (target >= 0.8 for the folder and IMAP) and the load average.

    .venv/bin/python bench/inbox_ingest.py [--files 100] [--size-kib 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import REDIS_URL, Table, base_env, machine, median, seaweed, setup_django, verdict, write_pdf

WAYS = ("API upload (documents)", "API inbox", "watched folder", "IMAP")


def _message(number: int, name: str, data: bytes) -> bytes:
    message = EmailMessage()
    message["From"] = "Outpatients <outpatients@hospital.example>"
    message["To"] = "clinic@clinic.test"
    message["Subject"] = f"Clinic letter {number}"
    message["Message-ID"] = f"<bench-{number}-{uuid.uuid4().hex}@hospital.example>"
    message.set_content("Please find the letter attached.")
    message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size-kib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    queue = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    with seaweed("quill-bench-ingest") as s3, tempfile.TemporaryDirectory(prefix="quill-bench-ingest-") as tmp:
        env = base_env(**s3.settings_env(), QUILL_CELERY_EAGER="false", QUILL_CELERY_QUEUE=queue)
        setup_django(env)
        from rest_framework.test import APIClient

        from apps.accounts.services import api_token_create
        from apps.inbox.models import InboxItem, IntakeSource, SourceKind
        from apps.inbox.sources.folder import FolderWatcher, folder_pass
        from apps.inbox.sources.imap import imap_pass
        from tests.factories import make_organisation, make_patient, make_user
        from tests.services.dovecot import Dovecot

        print(machine(), flush=True)
        files = [write_pdf(Path(tmp) / f"letter-{n:04d}.pdf", args.size_kib * 1024) for n in range(args.files)]
        contents = [path.read_bytes() for path in files]
        secret = Path(tmp) / "imap_password"
        imap = Dovecot().start()
        try:
            secret.write_text(imap.password)

            def organisation() -> tuple:
                org = make_organisation(f"Ingest bench {uuid.uuid4().hex[:6]}")
                user = make_user(org, ["clinician"], email=f"ingest-{uuid.uuid4().hex[:8]}@bench.test")
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='bench')[1]}")
                return org, user, client

            def api_documents() -> float:
                org, _, client = organisation()
                patient = make_patient(org)
                started = time.perf_counter()
                for path in files:
                    with open(path, "rb") as handle:
                        response = client.post(
                            "/api/documents/",
                            {"patient_id": str(patient.pk), "category": "letter", "file": handle},
                            format="multipart",
                        )
                    assert response.status_code == 201, response.content[:300]
                return time.perf_counter() - started

            def api_inbox() -> float:
                org, _, client = organisation()
                started = time.perf_counter()
                for path in files:
                    with open(path, "rb") as handle:
                        response = client.post("/api/inbox/", {"file": handle}, format="multipart")
                    assert response.status_code == 201, response.content[:300]
                elapsed = time.perf_counter() - started
                assert InboxItem.objects.filter(organisation=org, state="scanning").count() == len(files)
                return elapsed

            def folder() -> float:
                org, _, _ = organisation()
                path = Path(tmp) / f"folder-{uuid.uuid4().hex[:6]}"
                path.mkdir()
                for source_path in files:
                    shutil.copy(source_path, path / source_path.name)
                source = IntakeSource.objects.create(
                    organisation=org, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(path)
                )
                watcher = FolderWatcher(source, stable_seconds=0)
                watcher.ready()  # first sight of each file; the pass below takes them
                started = time.perf_counter()
                taken = folder_pass(watcher)
                elapsed = time.perf_counter() - started
                assert taken == len(files) and not any(path.iterdir()), taken
                assert InboxItem.objects.filter(organisation=org, state="scanning").count() == len(files)
                return elapsed

            def mailbox() -> float:
                org, _, _ = organisation()
                imap.empty()
                for number, (path, data) in enumerate(zip(files, contents, strict=True)):
                    imap.deliver(_message(number, path.name, data))
                source = IntakeSource.objects.create(
                    organisation=org, kind=SourceKind.IMAP, name="NHSmail", imap_host=imap.host,
                    imap_port=imap.port, imap_tls=False, imap_username=imap.user, imap_password_file=str(secret),
                )  # fmt: skip
                started = time.perf_counter()
                result = imap_pass(source)
                elapsed = time.perf_counter() - started
                assert (result.messages, result.items) == (len(files), len(files)), result
                assert InboxItem.objects.filter(organisation=org, state="scanning").count() == len(files)
                return elapsed

            ways = dict(zip(WAYS, (api_documents, api_inbox, folder, mailbox), strict=True))
            api_documents()  # warm: imports, connections, the first S3 client
            seconds: dict[str, list[float]] = {way: [] for way in WAYS}
            for round_number in range(args.rounds):
                order = WAYS[round_number % len(WAYS) :] + WAYS[: round_number % len(WAYS)]
                for way in order:
                    seconds[way].append(ways[way]())
                print(f"round {round_number + 1}: " + ", ".join(
                    f"{way} {args.files / seconds[way][-1]:.1f}/s" for way in WAYS), flush=True)  # fmt: skip
        finally:
            imap.close()
            import redis

            redis.Redis.from_url(REDIS_URL).delete(queue)

    rates = {way: args.files / median(values) for way, values in seconds.items()}
    base = rates[WAYS[0]]
    table = Table(
        f"Ingest, {args.files} PDFs of {args.size_kib} KiB, one at a time, median of {args.rounds} rounds",
        ["way", "files/s", "ms per file", "ratio to API upload", "target"],
    )
    for way in WAYS:
        target = verdict(rates[way] / base, 0.8, at_most=False) if way in ("watched folder", "IMAP") else ""
        table.add(way, f"{rates[way]:.1f}", f"{1000 / rates[way]:.1f}", f"{rates[way] / base:.2f}", target)
    table.print()
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores shared with other engineers' work)")
    missed = [way for way in ("watched folder", "IMAP") if rates[way] / base < 0.8]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
