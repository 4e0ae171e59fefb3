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


# --- Filing provenance and clinical review ---------------------------------------------------------------


@pytest.fixture
def filed_and_reviewed(any_storage, settings, organisation, clinician, administrator, patient, other_organisation):
    """Two items filed (one from an e-mail, one scan split in two) with reviews by a team, completed and
    forwarded; one item still waiting; and another organisation's filed item."""
    from apps.inbox.models import MailMessage, SourceKind
    from apps.inbox.services.filing import Filing, ReviewRequest, inbox_file, inbox_split
    from apps.inbox.services.preparation import inbox_prepare
    from apps.reviews.models import Priority, Review, Team
    from apps.reviews.services import complete_review
    from tests import factories
    from tests.inbox.helpers import letter_pdf, make_source, receive

    settings.QUILL_SCANNER = "none"
    colleague = factories.make_user(organisation, ["clinician"])
    team = Team.objects.create(organisation=organisation, name="Duty doctors")
    team.members.add(clinician, colleague)
    scanner = make_source(
        organisation,
        kind=SourceKind.FOLDER,
        name="Reception scanner",
        folder_path="/srv/scans",
        default_reviewer=colleague,
    )
    mailbox = make_source(
        organisation, kind=SourceKind.IMAP, name="Results mailbox", imap_host="mail.example.test",
        imap_username="results", imap_password_file="/run/secrets/imap", imap_tls=True,
    )  # fmt: skip
    eml = b"From: lab@example.test\r\nSubject: Results\r\nMessage-ID: <r1@example.test>\r\n\r\nAttached.\r\n"
    message = MailMessage.objects.create(
        organisation=organisation, source=mailbox, uidvalidity=1, uid=7, message_id="<r1@example.test>",
        sender="lab@example.test", subject="Results", storage_key=f"{organisation.pk}/inbox/mail/r1.eml",
        size=len(eml), sha256=hashlib.sha256(eml).hexdigest(),
    )  # fmt: skip
    storage.put_bytes(key=message.storage_key, data=eml, content_type="message/rfc822")

    def ready(source, data, name, **kwargs):
        item = receive(source, data, filename=name, **kwargs).item
        inbox_prepare(item_id=item.pk)
        item.refresh_from_db()
        return item

    emailed = ready(mailbox, letter_pdf(["Full blood count"]), "fbc.pdf", mail_message=message)
    scan = ready(scanner, letter_pdf(["Clinic letter"], ["Bloods"]), "scan.pdf")
    ready(scanner, letter_pdf(["Not filed yet"]), "waiting.pdf")
    due = timezone.localdate()
    document = inbox_file(
        actor=clinician, item=emailed,
        filing=Filing(patient=patient, category="lab", title="FBC",
                      review=ReviewRequest(priority=Priority.SOON, due_date=due, team=team, note="Check Hb")),
    )  # fmt: skip
    inbox_split(
        actor=clinician, item=scan,
        filings=[Filing(patient=patient, category="letter", title="Letter", first_page=1, last_page=1,
                        review=ReviewRequest(priority=Priority.ROUTINE, due_date=due, assignee=colleague)),
                 Filing(patient=patient, category="lab", title="Bloods", first_page=2, last_page=2)],
    )  # fmt: skip
    complete_review(
        Review.objects.get(document=document), actor=clinician, outcome="forwarded", text="Please see",
        forward_to=colleague,
    )  # fmt: skip
    other_clinician = factories.make_user(other_organisation, ["clinician"])
    other_patient = factories.make_patient(other_organisation, nhs_number=factories.VALID_NHS_NUMBERS[1])
    other = ready(make_source(other_organisation), letter_pdf(["Other clinic"]), "other.pdf")
    inbox_file(actor=other_clinician, item=other, filing=Filing(patient=other_patient, category="letter"))
    return any_storage


def _inbox_objects() -> dict[str, str]:
    from apps.inbox.models import InboxItem, MailMessage

    keys = [key for item in InboxItem.objects.all() for key in (item.storage_key, item.thumbnail_key) if key]
    keys += list(MailMessage.objects.values_list("storage_key", flat=True))
    return {key: hashlib.sha256(b"".join(storage.open_range(key))).hexdigest() for key in keys}


def test_round_trip_keeps_reviews_teams_and_filing_provenance(filed_and_reviewed, settings, tmp_path, request):
    from apps.inbox.models import FiledDocument, InboxItem, IntakeSource, ItemState
    from apps.reviews.models import Review, Team

    before = _snapshot()
    waiting = InboxItem.objects.get(original_filename="waiting.pdf")
    objects_before = {
        key: sha for key, sha in _inbox_objects().items() if key not in {waiting.storage_key, waiting.thumbnail_key}
    }
    assert FiledDocument.objects.count() == 4 and Review.objects.count() == 3  # forwarded: a second review
    members = set(Team.objects.get(name="Duty doctors").members.values_list("pk", flat=True))
    archive = tmp_path / "quill.tar"
    exported = run("export_archive", str(archive))
    assert exported.code == 0, exported.out + exported.err
    assert "3 reviews" in exported.out and "4 inbox filed documents" in exported.out, exported.out
    assert run("import_archive", "--verify-only", str(archive)).code == 0

    _wipe_installation(settings, tmp_path, filed_and_reviewed, request)
    assert not Review.objects.exists() and not FiledDocument.objects.exists()
    imported = run("import_archive", str(archive))
    assert imported.code == 0, imported.out + imported.err

    after = _snapshot()
    # The one change a restore makes: intake sources come back switched off.
    assert all(row["enabled"] is False for row in after["rows"]["inbox.IntakeSource"])
    for row in before["rows"]["inbox.IntakeSource"]:
        row["enabled"] = False
    # The item still waiting is the inbox's working state: a restore starts with an empty inbox.
    before["rows"]["inbox.InboxItem"] = [r for r in before["rows"]["inbox.InboxItem"] if r["id"] != str(waiting.pk)]
    assert after["rows"] == before["rows"]
    assert after["objects"] == before["objects"] and _inbox_objects() == objects_before
    assert not InboxItem.objects.exclude(state=ItemState.FILED).exists()
    assert set(Team.objects.get(name="Duty doctors").members.values_list("pk", flat=True)) == members
    assert Review.objects.filter(forwarded_from__isnull=False).count() == 1
    assert not IntakeSource.objects.filter(enabled=True).exists()
    assert run("verify_audit").code == 0
    assert run("verify_storage", "--skip-orphans").code == 0


def test_organisation_archive_keeps_only_its_reviews_and_filed_items(filed_and_reviewed, organisation, tmp_path):
    archive = tmp_path / "one.tar"
    assert run("export_archive", str(archive), "--organisation", str(organisation.pk)).code == 0
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        items = [json.loads(line) for line in tar.extractfile("rows/inbox_filed_items.jsonl").read().splitlines()]
        sources = [json.loads(line) for line in tar.extractfile("rows/intake_sources.jsonl").read().splitlines()]
    assert {item["organisation_id"] for item in items} == {str(organisation.pk)}
    assert sorted(item["original_filename"] for item in items) == ["fbc.pdf", "scan.pdf"]
    assert sorted(source["name"] for source in sources) == ["Reception scanner", "Results mailbox"]
    assert manifest["counts"]["reviews"] == 3 and manifest["counts"]["inbox_filed_documents"] == 3
    assert manifest["counts"]["review_team_members"] == 2 and manifest["counts"]["inbox_mail_messages"] == 1
    assert run("import_archive", "--verify-only", str(archive)).code == 0


def test_an_archive_written_before_reviews_were_archived_still_restores(installation, settings, tmp_path, request):
    from apps.operations.archive.format import TABLES

    archive, older = tmp_path / "quill.tar", tmp_path / "older.tar"
    assert run("export_archive", str(archive)).code == 0
    later = {table.file for table in TABLES if table.added_later}
    with tarfile.open(archive) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers() if info.name not in later]
    manifest = json.loads({info.name: data for info, data in members}["manifest.json"])
    for name in later:
        del manifest["files"][name]
    with tarfile.open(older, "w") as tar:
        for info, data in members:
            data = json.dumps(manifest).encode() if info.name == "manifest.json" else data
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _wipe_installation(settings, tmp_path, installation, request)
    imported = run("import_archive", str(older))
    assert imported.code == 0, imported.out + imported.err
    assert Document.objects.count() == 3
