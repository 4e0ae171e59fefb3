"""export_archive / import_archive: a byte-for-byte round trip with the audit chain intact, and refusals."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from datetime import date

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.audit.models import AuditEvent, ChainHead
from apps.audit.services import audit_record
from apps.documents.models import Document
from apps.documents.services import document_soft_delete
from apps.fhir.models import MhdSettings, SubmissionSet, SubmissionSetEntry
from apps.files import storage
from apps.letters.models import Letter
from apps.operations.archive.format import IMPORTED_MODELS, NOT_ARCHIVED, decode_row, encode_row
from apps.operations.errors import ArchiveError
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def installation(any_storage, clinician, administrator, patient, other_clinician, other_patient):
    first = stored_document(user=clinician, patient=patient, data=samples.pdf(2), document_date=date(2020, 5, 1))
    thumb = storage.thumbnail_key(first.storage_key)
    storage.put_bytes(key=thumb, data=b"RIFF-thumbnail-bytes", content_type="image/webp")
    type(first).objects.filter(pk=first.pk).update(thumbnail_key=thumb)
    deleted = stored_document(
        user=clinician, patient=patient, data=samples.png(), filename="scan.png", category="imaging"
    )
    document_soft_delete(actor=administrator, document=deleted, reason="uploaded to the wrong record")
    stored_document(user=other_clinician, patient=other_patient, data=samples.pdf(1))
    Letter.objects.create(
        organisation=patient.organisation, patient=patient, author=clinician, subject="Referral", body="Dear colleague"
    )
    audit_record(action="auth.login.failed", details={"email": "nobody@example.test"})  # the platform chain
    MhdSettings.objects.create(organisation=patient.organisation, language="en-US")
    received = SubmissionSet.objects.create(
        organisation=patient.organisation,
        patient=patient,
        unique_id="urn:oid:1.2.3.4.5",
        source_id="urn:oid:1.2.3",
        submitted_at=timezone.now(),
        received_by=administrator,
        response={"resourceType": "Bundle", "type": "transaction-response"},
    )
    SubmissionSetEntry.objects.create(
        document=first,
        submission_set=received,
        organisation=patient.organisation,
        master_identifier_system="urn:ietf:rfc:3986",
        master_identifier_value="urn:oid:1.2.3.4.5.1",
        position=0,
    )
    return any_storage


def _snapshot() -> dict:
    rows = {
        model._meta.label: sorted(
            (encode_row(obj) for obj in model._base_manager.all()), key=lambda r: str(r[model._meta.pk.attname])
        )
        for model in IMPORTED_MODELS
    }
    keys = [row["storage_key"] for row in rows["documents.Document"]]
    keys += [row["thumbnail_key"] for row in rows["documents.Document"] if row["thumbnail_key"]]
    objects = {key: hashlib.sha256(b"".join(storage.open_range(key))).hexdigest() for key in keys}
    return {"rows": rows, "objects": objects}


def _wipe_installation(settings, tmp_path, any_storage, request) -> None:
    """Empty every table (audit triggers off just for this) and point Quill at an empty store."""
    tables = ", ".join(model._meta.db_table for model in IMPORTED_MODELS)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(f"TRUNCATE {tables} CASCADE")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    if any_storage == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = f"restore-{uuid.uuid4().hex[:12]}"
        server.client().create_bucket(Bucket=bucket)
        entry = {**settings.STORAGES["documents"]}
        entry["OPTIONS"] = {**entry["OPTIONS"], "bucket_name": bucket}
        settings.STORAGES = {**settings.STORAGES, "default": entry, "documents": entry}
    else:
        from tests.services.storage import filesystem_settings

        for name, value in filesystem_settings(tmp_path / "restored").items():
            setattr(settings, name, value)
        (tmp_path / "restored").mkdir()


def test_round_trip_restores_everything_byte_for_byte(installation, settings, tmp_path, request):
    before = _snapshot()
    heads = dict(ChainHead.objects.values_list("chain", "hash"))
    archive = tmp_path / "quill.tar"

    exported = run("export_archive", str(archive))
    assert exported.code == 0, exported.out + exported.err
    assert "3 documents" in exported.out and "4 object(s)" in exported.out  # 3 documents and 1 thumbnail

    checked = run("import_archive", "--verify-only", str(archive))
    assert checked.code == 0, checked.out + checked.err

    _wipe_installation(settings, tmp_path, installation, request)
    assert not AuditEvent.objects.exists()
    imported = run("import_archive", str(archive))

    assert imported.code == 0, imported.out + imported.err
    after = _snapshot()
    assert after["rows"] == before["rows"]
    assert after["objects"] == before["objects"]
    assert dict(ChainHead.objects.values_list("chain", "hash")) == heads
    assert run("verify_audit").code == 0
    assert run("verify_storage", "--skip-orphans").code == 0
    # Appending after a restore continues the chain (sequences were reset too).
    audit_record(action="auth.login.failed", details={"email": "later@example.test"})
    assert run("verify_audit").code == 0


def test_organisation_archive_holds_only_that_organisation(installation, organisation, other_organisation, tmp_path):
    archive = tmp_path / "one.tar"
    assert run("export_archive", str(archive), "--organisation", str(organisation.pk)).code == 0
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        patients = tar.extractfile("rows/patients.jsonl").read().decode()
        events = [json.loads(line) for line in tar.extractfile("audit/events.jsonl").read().splitlines()]
    assert [org["id"] for org in manifest["organisations"]] == [str(organisation.pk)]
    assert str(other_organisation.pk) not in patients
    assert {event["chain"] for event in events} == {str(organisation.pk)}
    assert [head["chain"] for head in manifest["audit_chain_heads"]] == [str(organisation.pk)]
    assert run("import_archive", "--verify-only", str(archive)).code == 0


def test_import_refuses_a_non_empty_installation(installation, tmp_path):
    archive = tmp_path / "quill.tar"
    run("export_archive", str(archive))
    result = run("import_archive", str(archive))
    assert result.code == 2 and "not empty" in result.err


def _rewrite(source, target, change, *, fix_manifest: bool) -> None:
    """Copy an archive, changing members' bytes; optionally re-hash files in the manifest like a forger would."""
    with tarfile.open(source) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    changed = {info.name: change(info.name, data) for info, data in members}
    if fix_manifest:
        manifest = json.loads(changed["manifest.json"])
        for name, entry in manifest["files"].items():
            entry["sha256"] = hashlib.sha256(changed[name]).hexdigest()
        changed["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(target, "w") as tar:
        for info, _ in members:
            info.size = len(changed[info.name])
            tar.addfile(info, io.BytesIO(changed[info.name]))


def test_verify_only_finds_a_damaged_object(installation, tmp_path):
    archive, damaged = tmp_path / "quill.tar", tmp_path / "damaged.tar"
    run("export_archive", str(archive))

    def flip(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("objects/") and name.endswith(".pdf") else data

    _rewrite(archive, damaged, flip, fix_manifest=False)
    result = run("import_archive", "--verify-only", str(damaged))
    assert result.code == 1 and "damaged" in result.err


def test_verify_only_finds_an_altered_audit_event(installation, tmp_path):
    archive, forged = tmp_path / "quill.tar", tmp_path / "forged.tar"
    run("export_archive", str(archive))

    def rewrite_history(name, data):
        return data.replace(b'"auth.login.failed"', b'"auth.login.passed"') if name == "audit/events.jsonl" else data

    _rewrite(archive, forged, rewrite_history, fix_manifest=False)
    assert run("import_archive", "--verify-only", str(forged)).code == 1

    _rewrite(archive, forged, rewrite_history, fix_manifest=True)
    result = run("import_archive", "--verify-only", str(forged))
    assert result.code == 1 and "does not match its hash" in result.err


def test_verify_only_finds_altered_rows(installation, tmp_path):
    archive, altered = tmp_path / "quill.tar", tmp_path / "altered.tar"
    run("export_archive", str(archive))

    def rename(name, data):
        return (
            data.replace(b'"family_name":"Example"', b'"family_name":"Other"')
            if name.endswith("patients.jsonl")
            else data
        )

    _rewrite(archive, altered, rename, fix_manifest=False)
    result = run("import_archive", "--verify-only", str(altered))
    assert result.code == 1 and "rows/patients.jsonl does not match the manifest" in result.err


def test_export_refuses_to_overwrite_and_non_tar_paths(db, tmp_path):
    existing = tmp_path / "old.tar"
    existing.write_bytes(b"keep me")
    assert run("export_archive", str(existing)).code == 2
    assert existing.read_bytes() == b"keep me"
    assert run("export_archive", str(tmp_path / "archive.zip")).code == 2


def test_import_of_something_else_fails_cleanly(db, tmp_path):
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not a tar at all")
    assert run("import_archive", "--verify-only", str(bogus)).code == 1


def test_a_row_missing_a_column_is_refused(organisation):
    row = encode_row(organisation)
    del row["name"]

    with pytest.raises(ArchiveError, match="lacks name"):
        decode_row(Organisation, row)


def test_a_column_newer_than_the_archive_takes_its_default(installation):
    document = Document.objects.first()
    row = encode_row(document)
    del row["document_date_given"]

    assert decode_row(Document, row).document_date_given is True


def test_every_model_is_archived_or_left_out_for_a_stated_reason():
    from django.apps import apps

    ours = {model._meta.label for model in apps.get_models() if model.__module__.startswith("apps.")}
    archived = {model._meta.label for model in IMPORTED_MODELS}

    assert ours - archived == set(NOT_ARCHIVED)


def test_decode_row_gives_back_the_row_exactly(installation):
    for model in IMPORTED_MODELS:
        for obj in model._base_manager.all():
            assert encode_row(decode_row(model, encode_row(obj))) == encode_row(obj)
