"""rescan_documents: pending re-queued, failed retried, available ones re-checked in place."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run
from tests.services.clamd import QUILL_TEST_MALWARE, QUILL_TEST_MALWARE_SIGNATURE

pytestmark = pytest.mark.django_db


def _pdf_with_marker() -> bytes:
    head, _, tail = samples.pdf().rpartition(b"trailer")
    return head + b"% " + QUILL_TEST_MALWARE + b"\ntrailer" + tail


def test_pending_documents_are_scanned(filesystem_storage, scanner, eager_celery, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    assert Document.objects.get(pk=document.pk).scan_status == ScanStatus.PENDING

    result = run("rescan_documents")

    assert result.code == 0, result.err
    assert "Queued 1 pending scan(s)" in result.out
    assert Document.objects.get(pk=document.pk).scan_status == ScanStatus.CLEAN


def test_failed_scans_go_back_to_pending_audited(filesystem_storage, scanner, eager_celery, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), clean=False)
    Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.ERROR)

    dry = run("rescan_documents", "--status", "error", "--dry-run")
    assert dry.code == 0 and Document.objects.get(pk=document.pk).scan_status == ScanStatus.ERROR

    result = run("rescan_documents", "--status", "error")

    assert result.code == 0
    assert "1 failed scan(s) moved back to pending" in result.out
    assert Document.objects.get(pk=document.pk).scan_status == ScanStatus.CLEAN
    assert AuditEvent.objects.filter(action="document.rescan_requested", object_id=str(document.pk)).count() == 1


def test_all_rechecks_available_documents_in_place_and_quarantines_only_found(any_storage, scanner, clinician, patient):
    # Both passed an older signature database; today's knows the marker.
    harmless = stored_document(user=clinician, patient=patient, data=samples.pdf())
    infected = stored_document(user=clinician, patient=patient, data=_pdf_with_marker())

    dry = run("rescan_documents", "--status", "all", "--dry-run")
    assert dry.code == 1 and f"WOULD QUARANTINE document {infected.pk}" in dry.out
    assert Document.objects.get(pk=infected.pk).scan_status == ScanStatus.CLEAN

    result = run("rescan_documents", "--status", "all")

    assert result.code == 1
    assert f"QUARANTINED document {infected.pk}: {QUILL_TEST_MALWARE_SIGNATURE} found" in result.out
    assert "re-checked 2 available document(s): 1 clean, 1 quarantined" in result.out
    assert Document.objects.get(pk=harmless.pk).scan_status == ScanStatus.CLEAN
    quarantined = Document.objects.get(pk=infected.pk)
    assert quarantined.scan_status == ScanStatus.INFECTED and not quarantined.is_available
    event = AuditEvent.objects.get(action="document.quarantined", object_id=str(infected.pk))
    assert event.details["rescan"] is True and event.details["previous"] == "clean"


def test_all_with_clamd_down_changes_nothing(filesystem_storage, scanner, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=_pdf_with_marker())
    scanner.stop()

    result = run("rescan_documents", "--status", "all")

    assert result.code == 2 and "clamd is not reachable" in result.err
    assert Document.objects.get(pk=document.pk).scan_status == ScanStatus.CLEAN


def test_scanner_off_is_refused(filesystem_storage, settings):
    settings.QUILL_SCANNER = "none"
    assert run("rescan_documents").code == 2
