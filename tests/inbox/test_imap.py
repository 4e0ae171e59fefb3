"""The IMAP source against a real dovecot: provenance, attachments, the processed folder, outages."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from django.core.management import CommandError, call_command

from apps.files import storage
from apps.inbox.errors import SourceMisconfigured
from apps.inbox.models import InboxItem, MailMessage, SourceKind
from apps.inbox.services.mail import mail_receive
from apps.inbox.sources.imap import imap_pass
from tests.inbox.helpers import letter_pdf, make_source

pytestmark = pytest.mark.django_db


def _message(subject: str, attachments: list[tuple[str, bytes]], *, message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Outpatients <outpatients@hospital.example>"
    message["To"] = "clinic@clinic.test"
    message["Subject"] = subject
    message["Date"] = "Mon, 07 Dec 2026 09:30:00 +0000"
    message["Message-ID"] = message_id
    message.set_content("Please find the letter attached.")
    message.add_alternative('<p>Please find the letter attached.</p><img src="cid:logo@hospital">', subtype="html")
    html = message.get_payload()[1]
    html.add_related(b"\x89PNG-logo", maintype="image", subtype="png", cid="<logo@hospital>", disposition="inline")
    for name, data in attachments:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


@pytest.fixture
def mailbox(imap_server):
    imap_server.empty()
    yield imap_server
    imap_server.empty()


@pytest.fixture
def source(organisation, mailbox, tmp_path):
    secret = tmp_path / "imap_password"
    secret.write_text(mailbox.password + "\n")
    return make_source(
        organisation,
        kind=SourceKind.IMAP,
        name="NHSmail",
        imap_host=mailbox.host,
        imap_port=mailbox.port,
        imap_tls=False,
        imap_username=mailbox.user,
        imap_password_file=str(secret),
    )


def test_attachments_become_items_with_the_message_kept_and_moved(filesystem_storage, source, mailbox):
    raw = _message(
        "Clinic letter",
        [("letter.pdf", letter_pdf(["Letter"])), ("results.pdf", letter_pdf(["Results"]))],
        message_id="<letter-1@hospital.example>",
    )
    mailbox.deliver(raw)
    result = imap_pass(source)
    assert (result.messages, result.items) == (1, 2)
    message = MailMessage.objects.get()
    assert message.sender == "outpatients@hospital.example"
    assert message.subject == "Clinic letter" and message.message_id == "<letter-1@hospital.example>"
    assert message.sent_at.isoformat() == "2026-12-07T09:30:00+00:00"
    stored = storage.read_bytes(message.storage_key)
    assert b"Clinic letter" in stored and message.size == len(stored)
    items = list(InboxItem.objects.order_by("original_filename"))
    assert [item.original_filename for item in items] == ["letter.pdf", "results.pdf"]
    assert all(item.mail_message_id == message.pk for item in items)
    assert items[0].provenance["subject"] == "Clinic letter"
    assert mailbox.folder_uids("INBOX") == [] and len(mailbox.folder_uids(source.imap_processed_folder)) == 1


def test_message_received_twice_adds_nothing(filesystem_storage, source):
    raw = _message("Again", [("a.pdf", letter_pdf(["A"]))], message_id="<again@hospital.example>")
    first = mail_receive(source=source, uidvalidity=7, uid=42, raw=raw)
    again = mail_receive(source=source, uidvalidity=7, uid=42, raw=raw)
    assert again.message.pk == first.message.pk and not again.items[0].created
    assert MailMessage.objects.count() == 1 and InboxItem.objects.count() == 1


def test_server_down_then_back_takes_each_message_once(filesystem_storage, source, mailbox):
    mailbox.deliver(_message("During outage", [("x.pdf", letter_pdf(["X"]))], message_id="<x@hospital.example>"))
    mailbox.stop()
    with pytest.raises(OSError):
        imap_pass(source)
    assert InboxItem.objects.count() == 0
    mailbox.start()
    assert imap_pass(source).items == 1
    assert imap_pass(source).items == 0
    assert InboxItem.objects.count() == 1 and mailbox.folder_uids("INBOX") == []


def test_unreadable_password_file_is_a_misconfiguration(filesystem_storage, source):
    source.imap_password_file = "/nonexistent/imap_password"
    with pytest.raises(SourceMisconfigured) as caught:
        imap_pass(source)
    assert caught.value.error_code == "intake_source_misconfigured"


def test_tls_cannot_be_off_for_a_remote_server(filesystem_storage, source):
    source.imap_host = "mail.example.org"
    with pytest.raises(SourceMisconfigured, match="TLS is required"):
        imap_pass(source)


def test_run_intake_once_reads_mailboxes_and_folders(filesystem_storage, source, mailbox, organisation, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(letter_pdf(["Scanned"]))
    make_source(organisation, kind=SourceKind.FOLDER, name="Scanner", folder_path=str(folder))
    mailbox.deliver(_message("Mail", [("m.pdf", letter_pdf(["Mailed"]))], message_id="<m@hospital.example>"))
    call_command("run_intake", "--once", "--stable-seconds", "0")
    assert set(InboxItem.objects.values_list("original_filename", flat=True)) == {"scan.pdf", "m.pdf"}


def test_run_intake_once_exits_non_zero_when_a_mailbox_cannot_be_read(filesystem_storage, source):
    source.imap_password_file = "/nonexistent/imap_password"
    source.save()
    with pytest.raises(CommandError) as caught:
        call_command("run_intake", "--once", "--stable-seconds", "0")
    assert caught.value.returncode == 1


def test_stored_messages_are_moved_in_batches_and_a_failure_moves_those_already_stored(
    filesystem_storage, source, mailbox, monkeypatch
):
    from apps.files.errors import StorageUnavailable
    from apps.inbox.sources import imap

    for number in range(5):
        raw = _message(
            f"Letter {number}", [(f"l{number}.pdf", letter_pdf([f"L{number}"]))], message_id=f"<b{number}@h>"
        )
        mailbox.deliver(raw)
    monkeypatch.setattr(imap, "MOVE_BATCH", 2)
    received = imap.mail_receive
    calls = []

    def storage_down_at_the_fourth(**kwargs):  # injected fault: the store goes away mid-pass
        calls.append(kwargs["uid"])
        if len(calls) == 4:
            raise StorageUnavailable()
        return received(**kwargs)

    monkeypatch.setattr(imap, "mail_receive", storage_down_at_the_fourth)
    with pytest.raises(StorageUnavailable):
        imap_pass(source)
    assert len(mailbox.folder_uids(source.imap_processed_folder)) == 3 and len(mailbox.folder_uids("INBOX")) == 2
    monkeypatch.setattr(imap, "mail_receive", received)
    assert imap_pass(source).items == 2
    assert mailbox.folder_uids("INBOX") == [] and len(mailbox.folder_uids(source.imap_processed_folder)) == 5
    assert sorted(InboxItem.objects.values_list("original_filename", flat=True)) == [f"l{n}.pdf" for n in range(5)]


def test_a_message_whose_second_attachment_cannot_be_stored_leaves_nothing_then_comes_whole(
    filesystem_storage, source, mailbox, monkeypatch
):
    from apps.files.errors import StorageUnavailable

    raw = _message(
        "Two letters",
        [("first.pdf", letter_pdf(["First"])), ("second.pdf", letter_pdf(["Second"]))],
        message_id="<two@hospital.example>",
    )
    mailbox.deliver(raw)
    put_file = storage.put_file
    calls = []

    def down_at_the_second(**kwargs):  # injected fault: the store goes away between the two attachments
        calls.append(kwargs["key"])
        if len(calls) == 2:
            raise StorageUnavailable()
        return put_file(**kwargs)

    monkeypatch.setattr(storage, "put_file", down_at_the_second)
    with pytest.raises(StorageUnavailable):
        imap_pass(source)
    assert MailMessage.objects.count() == 0 and InboxItem.objects.count() == 0
    assert list(storage.list_keys(f"{source.organisation_id}/")) == []  # neither the .eml nor the first attachment
    assert len(mailbox.folder_uids("INBOX")) == 1 and mailbox.folder_uids(source.imap_processed_folder) == []
    monkeypatch.setattr(storage, "put_file", put_file)
    assert imap_pass(source).items == 2
    assert imap_pass(source).items == 0
    message = MailMessage.objects.get()
    assert sorted(InboxItem.objects.filter(mail_message=message).values_list("original_filename", flat=True)) == [
        "first.pdf",
        "second.pdf",
    ]
    assert mailbox.folder_uids("INBOX") == []


def test_a_message_received_again_keeps_one_eml(filesystem_storage, source):
    raw = _message("Kept once", [("k.pdf", letter_pdf(["K"]))], message_id="<kept@hospital.example>")
    first = mail_receive(source=source, uidvalidity=7, uid=43, raw=raw)
    mail_receive(source=source, uidvalidity=7, uid=43, raw=raw)
    mail_keys = [key for key, _, _ in storage.list_keys(f"{source.organisation_id}/inbox/mail/")]
    assert mail_keys == [first.message.storage_key]


def test_a_message_whose_eml_cannot_be_stored_leaves_nothing(filesystem_storage, source, mailbox, monkeypatch):
    from apps.files.errors import StorageUnavailable

    def down(**kwargs):  # injected fault: the .eml put fails while its attachment was stored
        raise StorageUnavailable()

    mailbox.deliver(_message("No eml", [("n.pdf", letter_pdf(["N"]))], message_id="<no-eml@hospital.example>"))
    put_bytes = storage.put_bytes
    monkeypatch.setattr(storage, "put_bytes", down)
    with pytest.raises(StorageUnavailable):
        imap_pass(source)
    assert MailMessage.objects.count() == 0 and InboxItem.objects.count() == 0
    assert list(storage.list_keys(f"{source.organisation_id}/")) == []
    assert len(mailbox.folder_uids("INBOX")) == 1
    monkeypatch.setattr(storage, "put_bytes", put_bytes)
    assert imap_pass(source).items == 1 and MailMessage.objects.count() == 1
