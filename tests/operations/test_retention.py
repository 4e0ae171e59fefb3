"""Retention: the policy, retain_until on upload and change, the report, the purge, erasure requests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.documents.models import Document, ErasureDecision, ErasureRequest
from apps.documents.retention_rules import retain_until
from apps.documents.services import document_soft_delete, document_update
from apps.files import storage
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("birth", "last", "category", "overrides", "expected"),
    [
        (date(1970, 5, 1), date(2020, 3, 1), "lab", {}, date(2028, 3, 1)),
        (date(2004, 1, 10), date(2020, 3, 1), "lab", {}, date(2029, 1, 10)),  # 16: until the 25th birthday
        (date(2002, 6, 1), date(2020, 3, 1), "lab", {}, date(2028, 6, 1)),  # 17: until the 26th birthday
        (date(2003, 3, 1), date(2021, 3, 1), "lab", {}, date(2029, 3, 1)),  # 18 that day: adult
        (date(1970, 5, 1), date(2020, 3, 1), "imaging", {"imaging": 10}, date(2030, 3, 1)),
        (date(1970, 5, 1), date(2020, 3, 1), "lab", {"imaging": 10}, date(2028, 3, 1)),
        (date(2010, 1, 1), date(2020, 3, 1), "consent", {"consent": 30}, date(2050, 3, 1)),  # longer than 25th
        (date(1970, 5, 1), date(2020, 2, 29), "lab", {}, date(2028, 2, 29)),
        (date(1970, 5, 1), date(2020, 2, 29), "lab", {"lab": 7}, date(2027, 2, 28)),
    ],
    ids=[
        "adult",
        "child-16",
        "child-17",
        "just-18",
        "category-override",
        "override-other-category",
        "child-override-longer",
        "leap-day",
        "leap-day-to-common-year",
    ],
)
def test_policy(settings, birth, last, category, overrides, expected):
    settings.QUILL_RETENTION_YEARS = 8
    settings.QUILL_RETENTION_CATEGORY_YEARS = overrides
    assert retain_until(birth_date=birth, last_clinical_date=last, category=category) == expected


def test_unknown_category_in_settings_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.QUILL_RETENTION_CATEGORY_YEARS = {"xrays": 10}
    with pytest.raises(ImproperlyConfigured, match="xrays"):
        retain_until(birth_date=date(1970, 1, 1), last_clinical_date=date(2020, 1, 1), category="lab")


def test_upload_sets_and_later_dates_extend_the_whole_record(filesystem_storage, clinician, patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=date(2015, 4, 1))
    assert first.retain_until == date(2023, 4, 1)
    stored_document(user=clinician, patient=patient, data=samples.pdf(2), document_date=date(2019, 6, 1))
    first.refresh_from_db()
    assert first.retain_until == date(2027, 6, 1)


def test_upload_with_an_earlier_date_takes_the_record_s_last_date_and_changes_no_other_row(
    filesystem_storage, settings, clinician, patient
):
    settings.QUILL_RETENTION_CATEGORY_YEARS = {"imaging": 10}
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=date(2019, 6, 1))
    updated_at = Document.objects.get(pk=first.pk).updated_at
    older = stored_document(
        user=clinician, patient=patient, data=samples.pdf(2), document_date=date(2012, 1, 1), category="imaging"
    )
    assert older.retain_until == date(2029, 6, 1)  # 10 years (imaging) after the record's last date, not 2012's
    assert Document.objects.get(pk=older.pk).retain_until == date(2029, 6, 1)
    first_now = Document.objects.get(pk=first.pk)
    assert first_now.retain_until == date(2027, 6, 1)
    assert first_now.updated_at == updated_at


def test_metadata_change_recomputes(filesystem_storage, settings, clinician, patient):
    settings.QUILL_RETENTION_CATEGORY_YEARS = {"imaging": 10}
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=date(2015, 4, 1))
    document = document_update(actor=clinician, document=document, category="imaging")
    assert document.retain_until == date(2025, 4, 1)


def _due_deleted(user, patient, manager, **fields) -> Document:
    document = stored_document(user=user, patient=patient, data=samples.pdf(), document_date=date(2001, 1, 1), **fields)
    return document_soft_delete(actor=manager, document=document, reason="filed against the wrong patient")


@pytest.fixture
def due(any_storage, clinician, administrator, patient):
    """An adult's record last seen in 2001: 8 years are long over."""
    deleted = _due_deleted(clinician, patient, administrator)
    Document.objects.filter(pk=deleted.pk).update(thumbnail_key=storage.thumbnail_key(deleted.storage_key))
    storage.put_bytes(key=storage.thumbnail_key(deleted.storage_key), data=b"thumb", content_type="image/webp")
    kept = stored_document(user=clinician, patient=patient, data=samples.pdf(2), document_date=date(2001, 1, 1))
    held = _due_deleted(clinician, patient, administrator)
    Document.objects.filter(pk=held.pk).update(legal_hold=True)
    return deleted, kept, held


def test_report_lists_due_per_organisation(due, organisation):
    result = run("retention_report", "--organisation", str(organisation.pk), "--list")
    assert result.code == 0, result.out + result.err
    line = next(line for line in result.out.splitlines() if str(organisation.pk) in line)
    assert line.startswith(organisation.name)
    assert line.split()[-4:] == ["3", "1", "1", "1"]  # due, purgeable, held, not deleted
    deleted, _, _ = due
    assert f"{deleted.pk}" in result.out and "purgeable" in result.out and "legal hold" in result.out


def test_report_recompute_fills_missing_dates(due, organisation):
    Document.objects.update(retain_until=None)
    assert run("retention_report", "--organisation", str(organisation.pk)).code == 1
    dry = run("retention_report", "--organisation", str(organisation.pk), "--recompute", "--dry-run")
    assert "Would change retain_until on 3 document(s)" in dry.out
    assert not Document.objects.exclude(retain_until=None).exists()
    result = run("retention_report", "--organisation", str(organisation.pk), "--recompute")
    assert result.code == 0 and "Changed retain_until on 3 document(s)" in result.out
    assert set(Document.objects.values_list("retain_until", flat=True)) == {date(2009, 1, 1)}


def test_purge_without_confirm_is_a_dry_run(due, organisation):
    deleted, _, _ = due
    result = run("purge_expired", "--organisation", str(organisation.pk))
    assert result.code == 0 and f"would purge {deleted.pk}" in result.out and "DRY RUN" in result.out
    assert Document.objects.get(pk=deleted.pk).purged_at is None
    assert storage.exists(deleted.storage_key)


def test_purge_removes_bytes_keeps_tombstone_and_audit(due, organisation):
    deleted, kept, held = due
    for document, name in ((deleted, "r1-w1000-p1"), (deleted, "r1-w240-p2"), (kept, "r1-w1000-p1")):
        storage.put_bytes(
            key=storage.rendition_key(document.storage_key, name), data=b"page", content_type="image/webp"
        )
    events_before = AuditEvent.objects.filter(object_id=str(deleted.pk)).count()

    result = run("purge_expired", "--confirm", "--organisation", str(organisation.pk))

    assert result.code == 0, result.err
    assert "Purged 1 document(s)" in result.out
    tombstone = Document.objects.get(pk=deleted.pk)
    assert tombstone.purged_at is not None and tombstone.sha256 == deleted.sha256
    assert not storage.exists(deleted.storage_key)
    assert not storage.exists(storage.thumbnail_key(deleted.storage_key))
    assert list(storage.list_keys(storage.renditions_prefix(deleted.storage_key))) == []
    assert storage.exists(storage.rendition_key(kept.storage_key, "r1-w1000-p1"))
    assert storage.exists(kept.storage_key) and storage.exists(held.storage_key)  # not deleted; held
    assert Document.objects.get(pk=held.pk).purged_at is None
    event = AuditEvent.objects.get(action="document.purged")
    assert event.object_id == str(deleted.pk) and event.details["reason"] == "retention"
    assert event.details["sha256"] == deleted.sha256 and event.details["renditions_removed"] == 2
    assert AuditEvent.objects.filter(object_id=str(deleted.pk)).count() == events_before + 1
    assert run("verify_audit").code == 0
    assert run("verify_storage", "--organisation", str(organisation.pk), "--skip-orphans").code == 0
    assert run("purge_expired", "--confirm", "--organisation", str(organisation.pk)).out.startswith("Purged 0")


def test_not_yet_due_is_never_purged(filesystem_storage, clinician, administrator, patient):
    recent = timezone.localdate() - timedelta(days=30)
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=recent)
    document_soft_delete(actor=administrator, document=document, reason="duplicate upload of a letter")
    assert run("purge_expired", "--confirm").out.count(str(document.pk)) == 0
    assert Document.objects.get(pk=document.pk).purged_at is None


def test_erasure_refused_while_retention_applies(filesystem_storage, clinician, administrator, patient):
    recent = timezone.localdate() - timedelta(days=30)
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=recent)

    result = run(
        "record_erasure_request",
        "--patient",
        str(patient.pk),
        "--reason",
        "I have moved abroad",
        "--recorded-by",
        administrator.email,
    )

    assert result.code == 0, result.err
    request = ErasureRequest.objects.get(patient=patient)
    assert request.decision == ErasureDecision.REFUSED
    assert request.retention_ends == document.retain_until
    assert f"which ends on {document.retain_until.isoformat()}" in request.decision_reason
    assert "REFUSED" in result.out and f"retention ends {document.retain_until.isoformat()}" in result.out
    event = AuditEvent.objects.get(action="patient.erasure_requested")
    assert event.outcome == "denied" and event.actor_id == administrator.pk
    run("purge_expired", "--confirm")
    assert storage.exists(document.storage_key)


def test_erasure_refused_under_legal_hold(filesystem_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf(), document_date=date(2001, 1, 1))
    Document.objects.filter(pk=document.pk).update(legal_hold=True)
    run("record_erasure_request", "--patient", str(patient.pk), "--reason", "please erase my record")
    request = ErasureRequest.objects.get(patient=patient)
    assert request.decision == ErasureDecision.REFUSED and "legal hold" in request.decision_reason


def test_erasure_accepted_is_carried_out_by_the_purge(filesystem_storage, clinician, organisation):
    patient = factories.make_patient(organisation, date_of_birth=date(1950, 1, 1))
    old = [
        stored_document(user=clinician, patient=patient, data=samples.pdf(n), document_date=date(2005, 1, 1))
        for n in (1, 2)
    ]

    recorded = run("record_erasure_request", "--patient", str(patient.pk), "--reason", "erase my old records")

    assert "ACCEPTED" in recorded.out
    result = run("purge_expired", "--confirm")
    assert "Purged 2 document(s); 1 erasure request(s) completed" in result.out
    for document in old:
        assert not storage.exists(document.storage_key)
        assert Document.objects.get(pk=document.pk).purged_at is not None
    request = ErasureRequest.objects.get(patient=patient)
    assert request.decision == ErasureDecision.COMPLETED and request.completed_at
    reasons = set(AuditEvent.objects.filter(action="document.purged").values_list("details__reason", flat=True))
    assert reasons == {"erasure"}
    assert AuditEvent.objects.filter(action="patient.erasure_completed").count() == 1


def test_erasure_for_unknown_patient_is_refused(db):
    result = run("record_erasure_request", "--patient", "00000000-0000-0000-0000-000000000000", "--reason", "x y z")
    assert result.code == 2
