"""The record's last clinical date kept on the patient row: right after every change, and read in O(1).

Retention needs the latest clinical date of the patient's whole record on every upload. The
patient row keeps it (``Patient.last_clinical_date``), moved under the patient's lock, so an
upload reads one row instead of every document. These tests check that the kept value equals
``MAX(document_date)`` after each thing that can change it, and that an upload no longer reads
the documents to find it.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import date

import pytest
from django.db import connection, transaction
from django.db.models import Max
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from apps.documents.models import Document, ErasureDecision, ErasureRequest
from apps.documents.services import (
    UploadRequest,
    document_new_version,
    document_restore,
    document_soft_delete,
    document_update,
)
from apps.documents.services.retention import (
    PATIENT_LOCK,
    erasure_request_record,
    patient_retention_recompute,
    patients_last_clinical_date_refresh,
)
from apps.files.spooling import spool
from apps.patients.models import Patient
from tests import factories
from tests.documents import samples
from tests.documents.helpers import document_row, stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


def _kept(patient) -> date | None:
    return Patient.objects.get(pk=patient.pk).last_clinical_date


def _actual(patient) -> date | None:
    return Document.objects.filter(patient_id=patient.pk).aggregate(last=Max("document_date"))["last"]


def _upload(clinician, patient, n: int, day: date | None, **fields) -> Document:
    return stored_document(user=clinician, patient=patient, data=samples.pdf(n), document_date=day, **fields)


def test_a_new_patient_has_none(patient):
    assert _kept(patient) is None


def test_uploads_move_it_forward_only(filesystem_storage, clinician, patient):
    _upload(clinician, patient, 1, date(2019, 6, 1))
    assert _kept(patient) == date(2019, 6, 1)

    _upload(clinician, patient, 2, date(2012, 1, 1))  # earlier: the record's last date stands
    assert _kept(patient) == date(2019, 6, 1)

    _upload(clinician, patient, 3, date(2021, 2, 3))
    assert _kept(patient) == date(2021, 2, 3) == _actual(patient)


def test_an_upload_without_a_clinical_date_counts_its_upload_day(filesystem_storage, clinician, patient):
    document = _upload(clinician, patient, 1, None)

    assert _kept(patient) == document.document_date == _actual(patient)


def test_a_bulk_upload_takes_its_latest_date(filesystem_storage, clinician, patient):
    from apps.documents.services import document_upload_bulk

    items = [
        UploadRequest(spooled=spool([data], max_bytes=len(data) + 1), filename=f"r{n}.pdf", category="lab",
                      document_date=day)
        for n, (data, day) in enumerate(((samples.pdf(1), date(2020, 1, 1)), (samples.pdf(2), date(2022, 5, 6))))
    ]  # fmt: skip

    outcomes = document_upload_bulk(actor=clinician, patient=patient, items=items)

    assert all(outcome.stored for outcome in outcomes)
    assert _kept(patient) == date(2022, 5, 6) == _actual(patient)


@pytest.mark.parametrize(
    ("new_date", "expected"),
    [(date(2010, 1, 1), date(2015, 4, 1)), (date(2024, 8, 9), date(2024, 8, 9))],
    ids=["earlier-falls-back-to-the-next-latest", "later-moves-it-forward"],
)
def test_a_date_edit_follows_the_documents(filesystem_storage, clinician, patient, new_date, expected):
    _upload(clinician, patient, 1, date(2015, 4, 1))
    latest = _upload(clinician, patient, 2, date(2019, 6, 1))

    document_update(actor=clinician, document=latest, document_date=new_date)

    assert _kept(patient) == expected == _actual(patient)


def test_a_new_version_with_a_later_date_moves_it(filesystem_storage, clinician, patient):
    first = _upload(clinician, patient, 1, date(2015, 4, 1))
    data = samples.pdf(2)
    item = UploadRequest(
        spooled=spool([data], max_bytes=len(data) + 1), filename="v2.pdf", category="lab",
        document_date=date(2023, 3, 3),
    )  # fmt: skip

    second = document_new_version(actor=clinician, current=first, item=item)

    assert _kept(patient) == date(2023, 3, 3) == _actual(patient)
    first.refresh_from_db()
    assert first.retain_until == second.retain_until == date(2031, 3, 3)  # the whole record extended


def test_delete_and_restore_leave_it_as_the_documents_say(filesystem_storage, clinician, administrator, patient):
    _upload(clinician, patient, 1, date(2015, 4, 1))
    latest = _upload(clinician, patient, 2, date(2019, 6, 1))

    document_soft_delete(actor=administrator, document=latest, reason="filed against the wrong patient")
    # A deleted document still counts (as it always has): its retention, and the record's, stand.
    assert _kept(patient) == date(2019, 6, 1) == _actual(patient)
    document_restore(actor=administrator, document=latest)
    assert _kept(patient) == date(2019, 6, 1) == _actual(patient)


def test_erasure_and_purge_keep_it(filesystem_storage, clinician, organisation):
    patient = factories.make_patient(organisation, date_of_birth=date(1950, 1, 1))
    _upload(clinician, patient, 1, date(2005, 1, 1))
    _upload(clinician, patient, 2, date(2004, 1, 1))
    Patient.objects.filter(pk=patient.pk).update(last_clinical_date=date(1999, 1, 1))  # damaged on purpose

    request = erasure_request_record(patient=patient, requested_by="the patient", reason="erase my old records")

    assert request.decision == ErasureDecision.ACCEPTED
    assert _kept(patient) == date(2005, 1, 1)  # the erasure's recompute reads the documents and repairs it
    assert "Purged 2 document(s)" in run("purge_expired", "--confirm").out
    assert ErasureRequest.objects.get(pk=request.pk).decision == ErasureDecision.COMPLETED
    assert _kept(patient) == date(2005, 1, 1) == _actual(patient)  # tombstones keep their dates


def test_recompute_repairs_it_and_a_dry_run_does_not(filesystem_storage, clinician, patient):
    _upload(clinician, patient, 1, date(2018, 1, 1))
    Patient.objects.filter(pk=patient.pk).update(last_clinical_date=None)

    patient_retention_recompute(patient_id=patient.pk, dry_run=True)
    assert _kept(patient) is None
    patient_retention_recompute(patient_id=patient.pk)
    assert _kept(patient) == date(2018, 1, 1)


def test_refresh_and_the_migration_backfill_set_it_from_the_documents(clinician, patient, organisation):
    empty = factories.make_patient(organisation)
    document_row(patient, clinician, document_date=date(2020, 2, 2))
    document_row(patient, clinician, document_date=date(2021, 3, 3))
    assert _kept(patient) is None  # rows written around the services

    assert patients_last_clinical_date_refresh(patient_ids=[patient.pk]) == 1
    assert _kept(patient) == date(2021, 3, 3) and _kept(empty) is None

    Patient.objects.update(last_clinical_date=None)
    migration = importlib.import_module("apps.patients.migrations.0004_patient_last_clinical_date")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    assert _kept(patient) == date(2021, 3, 3) and _kept(empty) is None


def test_an_upload_does_not_read_the_patient_s_documents(filesystem_storage, clinician, patient):
    # given a record with documents already
    for n, day in enumerate((date(2015, 1, 1), date(2016, 1, 1)), start=1):
        _upload(clinician, patient, n, day)

    # when one more is uploaded (an earlier date: nothing else to recompute)
    with CaptureQueriesContext(connection) as queries:
        document = _upload(clinician, patient, 3, date(2014, 1, 1), clean=False)

    # then no statement reads the documents table; the patient row is locked and read once
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in reads if '"documents_document"' in sql], reads
    locks = [sql for sql in reads if '"patients_patient"' in sql and "FOR UPDATE" in sql]
    assert len(locks) == 1 and "last_clinical_date" in locks[0]
    assert document.retain_until == date(2024, 1, 1)  # 8 years after the record's last date (2016)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_upload_waits_for_the_lock_and_sees_the_other_s_date(settings, clinician, patient):
    """The second upload for a patient blocks on the row lock and then reads the first's committed date."""
    import threading

    from django.db import connections, transaction

    from apps.documents.services.retention import retention_for_new_documents
    from tests.documents.helpers import document_row

    settings.QUILL_RETENTION_YEARS = 8
    first_locked, first_may_commit = threading.Event(), threading.Event()
    seen: dict[str, date] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                new = Document(patient_id=patient.pk, document_date=date(2020, 6, 1), category="lab")
                retention_for_new_documents(patient_id=patient.pk, documents=[new])
                document_row(patient, clinician, document_date=date(2020, 6, 1))
                first_locked.set()
                first_may_commit.wait(10)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_locked.wait(10)
            with transaction.atomic():
                new = Document(patient_id=patient.pk, document_date=date(2010, 1, 1), category="lab")
                retention_for_new_documents(patient_id=patient.pk, documents=[new])  # blocks until first commits
                seen["retain_until"] = new.retain_until
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_locked.wait(10)
    _wait_until_a_backend_waits_for_a_lock()
    first_may_commit.set()
    for thread in threads:
        thread.join(20)

    assert seen["retain_until"] == date(2028, 6, 1)  # 8 years after the first upload's date, not 2010's
    assert _kept(patient) == date(2020, 6, 1)


def _wait_until_a_backend_waits_for_a_lock(timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the second upload never waited for the patient's lock")


def test_the_compiled_patient_lock_returns_what_the_orm_returns(patient):
    Patient.objects.filter(pk=patient.pk).update(last_clinical_date=date(2024, 5, 6))
    with transaction.atomic():
        compiled, orm = PATIENT_LOCK.get(str(patient.pk)), PATIENT_LOCK.orm(patient.pk)
        missing = PATIENT_LOCK.get(uuid.uuid4()), PATIENT_LOCK.orm(uuid.uuid4())

    assert compiled is not None and orm is not None
    assert compiled.get_deferred_fields() == orm.get_deferred_fields()
    read = ("id", "date_of_birth", "last_clinical_date")
    assert [getattr(compiled, name) for name in read] == [getattr(orm, name) for name in read]
    assert compiled.last_clinical_date == date(2024, 5, 6)
    assert missing == (None, None)


@pytest.mark.django_db(transaction=True)
def test_the_compiled_patient_lock_is_refused_outside_a_transaction_as_the_orm_s_is(patient):
    with pytest.raises(TransactionManagementError):
        PATIENT_LOCK.orm(patient.pk)
    with pytest.raises(TransactionManagementError):
        PATIENT_LOCK.get(patient.pk)
