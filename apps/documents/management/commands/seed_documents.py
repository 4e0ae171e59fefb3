"""Seed many patients and documents fast (PostgreSQL COPY), for benchmarks of growth.

Not the upload path: rows only, no objects in storage (every row names an object
that does not exist), so never run it against a database with real patients.
Each document gets its ``document.uploaded`` audit event, appended to the
organisation's hash chain with correct hashes (``verify_audit`` passes), so the
audit trail grows with the documents as it would in use.

    manage.py seed_documents --patients 100000 --documents 1000000 [--organisation <uuid>]
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from psycopg.types.json import Jsonb

from apps.accounts.models import Organisation, User
from apps.audit.actions import Action
from apps.audit.hashing import event_hash
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import chain_key
from apps.documents.models import Category, Document
from apps.documents.services.retention import patients_last_clinical_date_refresh
from apps.patients.models import Patient
from quill.commands import QuillCommand, Unable

BATCH = 50_000
EPOCH = datetime(2016, 1, 1, tzinfo=UTC)
SPAN_DAYS = 10 * 365
CATEGORIES = [c for c in Category.values if c != Category.INSURANCE] + [Category.INSURANCE]


def _column_defaults(model) -> dict[str, Any]:
    """Every concrete column with its model default (what an INSERT through the ORM would write)."""
    defaults = {}
    for field in model._meta.concrete_fields:
        value = field.get_default() if field.has_default() else None
        if value is None and not field.null and field.get_internal_type() in ("CharField", "TextField"):
            value = ""
        defaults[field.column] = value
    return defaults


def _copy(table: str, columns: list[str], rows) -> int:
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor behind Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


class Command(QuillCommand):
    help = "Seed patients and documents with COPY (rows only, no stored objects) for growth benchmarks."
    changes_state = True

    def add_command_arguments(self, parser) -> None:
        parser.add_argument("--patients", type=int, required=True, help="new patients to create")
        parser.add_argument("--documents", type=int, required=True, help="new documents, spread evenly over them")
        parser.add_argument("--organisation", help="an existing organisation's id (default: a new one)")
        parser.add_argument("--seed", type=int, default=1, help="random seed for dates and categories (ids are random)")

    def run(self, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise Unable("seed_documents needs PostgreSQL (it uses COPY).")
        patients, documents = options["patients"], options["documents"]
        if patients < 1 or documents < 0:
            raise Unable("--patients must be at least 1 and --documents at least 0.")
        if self.dry_run:
            self.summary(f"would create {patients} patients and {documents} documents with their audit events")
            return
        rng = random.Random(options["seed"])
        organisation = (
            Organisation.objects.get(pk=options["organisation"])
            if options["organisation"]
            else Organisation.objects.create(name=f"Seeded Clinic {uuid.uuid4().hex[:6]}")
        )
        uploader = User.objects.filter(organisation=organisation).order_by("pk").first() or User.objects.create_user(
            email=f"seed-{uuid.uuid4().hex[:8]}@seed.invalid",
            password=None,
            full_name="Seeded uploader",
            organisation=organisation,
            roles=["clinician"],
        )
        with transaction.atomic():
            patient_ids = self._seed_patients(organisation, patients, rng)
            created = self._seed_documents(organisation, uploader, patient_ids, documents, rng)
            patients_last_clinical_date_refresh(patient_ids=patient_ids)  # what the upload service keeps
        with connection.cursor() as cursor:
            for table in (Patient._meta.db_table, Document._meta.db_table, AuditEvent._meta.db_table):
                cursor.execute(f"ANALYZE {table}")
        self.summary(
            f"organisation {organisation.pk}: created {len(patient_ids)} patients, {created} documents "
            f"and {created} audit events"
        )

    def _seed_patients(self, organisation: Organisation, count: int, rng: random.Random) -> list[uuid.UUID]:
        defaults = _column_defaults(Patient)
        columns = list(defaults)
        now = datetime.now(tz=UTC)
        ids = [uuid.uuid4() for _ in range(count)]

        def rows():
            for n, pk in enumerate(self.track(ids, description="patients")):
                values = dict(defaults)
                values.update(
                    id=pk,
                    organisation_id=organisation.pk,
                    given_name=f"Seed{n}",
                    family_name=f"Patient{rng.randrange(10_000):04d}",
                    date_of_birth=date(1930, 1, 1) + timedelta(days=rng.randrange(90 * 365)),
                    mrn=f"S{organisation.pk.hex[:6]}-{pk.hex[:12]}",
                    created_at=now,
                    updated_at=now,
                )
                yield [values[c] for c in columns]

        _copy(Patient._meta.db_table, columns, rows())
        return ids

    def _seed_documents(
        self, organisation: Organisation, uploader: User, patient_ids: list[uuid.UUID], count: int, rng: random.Random
    ) -> int:
        doc_defaults = _column_defaults(Document)
        doc_columns = list(doc_defaults)
        event_defaults = _column_defaults(AuditEvent)
        event_defaults.pop("id")
        event_columns = list(event_defaults)
        chain = chain_key(organisation.pk)
        ChainHead.objects.get_or_create(chain=chain)
        head = ChainHead.objects.select_for_update().get(chain=chain)
        sequence, prev_hash = head.sequence, head.hash
        documents: list[list[Any]] = []
        events: list[list[Any]] = []
        done = 0
        for n in self.track(range(count), total=count, description="documents"):
            pk = uuid.uuid4()
            patient_id = patient_ids[n % len(patient_ids)]
            clinical = EPOCH + timedelta(days=rng.randrange(SPAN_DAYS))
            uploaded = clinical + timedelta(days=rng.randrange(30), seconds=rng.randrange(86_400))
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            sha256 = hashlib.sha256(pk.bytes).hexdigest()
            values = dict(doc_defaults)
            values.update(
                id=pk,
                organisation_id=organisation.pk,
                patient_id=patient_id,
                title=f"Seeded {category} {n}",
                category=category,
                document_date=clinical.date(),
                original_filename=f"seeded-{n}.pdf",
                content_type="application/pdf",
                size=50_000 + rng.randrange(2_000_000),
                sha256=sha256,
                sha1=hashlib.sha1(pk.bytes, usedforsecurity=False).hexdigest(),
                storage_key=f"{organisation.pk}/{patient_id}/documents/{uploaded:%Y}/{uploaded:%m}/{pk}.pdf",
                scan_status="clean",
                scanned_at=uploaded,
                uploaded_by_id=uploader.pk,
                uploaded_at=uploaded,
                updated_at=uploaded,
                lineage_id=pk,
                version_number=1,
                is_current=True,
            )
            documents.append([values[c] for c in doc_columns])
            sequence += 1
            fields = {
                "chain": chain,
                "sequence": sequence,
                "occurred_at": uploaded,
                "organisation_id": str(organisation.pk),
                "actor_id": uploader.pk,
                "actor_username": uploader.email,
                "patient_id": str(patient_id),
                "action": Action.DOCUMENT_UPLOADED,
                "object_type": "document",
                "object_id": str(pk),
                "outcome": "success",
                "ip": "",
                "user_agent": "seed_documents",
                "request_id": "",
                "details": {"category": category, "sha256": sha256, "seeded": True},
            }
            digest = event_hash(prev_hash, fields)
            event = dict(event_defaults)
            event.update(fields, details=Jsonb(fields["details"]), prev_hash=prev_hash, hash=digest)
            events.append([event[c] for c in event_columns])
            prev_hash = digest
            if len(documents) >= BATCH:
                done += self._flush(doc_columns, documents, event_columns, events)
        done += self._flush(doc_columns, documents, event_columns, events)
        ChainHead.objects.filter(chain=chain).update(sequence=sequence, hash=prev_hash)
        return done

    def _flush(self, doc_columns, documents, event_columns, events) -> int:
        written = _copy(Document._meta.db_table, doc_columns, documents)
        _copy(AuditEvent._meta.db_table, event_columns, events)
        documents.clear()
        events.clear()
        return written
