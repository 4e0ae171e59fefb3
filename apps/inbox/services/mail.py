"""Receiving one email: the message kept as provenance (``.eml``), each attachment an inbox item.

Idempotent by the message's place on the server (source, UIDVALIDITY, UID) and each
attachment's position in it: receiving the same message again adds nothing.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from imap_tools import MailMessage as ParsedMessage

from apps.files import storage
from apps.inbox.models import IntakeSource, MailMessage
from apps.inbox.services.intake import Received, inbox_receive

logger = logging.getLogger(__name__)

# The .eml is put by one of these while the attachments are parsed, checked and put (each
# thread keeps its own S3 client); the message's transaction commits only after the put ended.
_eml_puts = ThreadPoolExecutor(max_workers=4, thread_name_prefix="quill-eml-put")


@dataclass(frozen=True)
class MailReceived:
    message: MailMessage
    items: list[Received]


def _mail_key(organisation_id: uuid.UUID, message_id: uuid.UUID) -> str:
    on = timezone.localdate()
    return f"{organisation_id}/inbox/mail/{on:%Y}/{on:%m}/{message_id}.eml"


def _sent_at(parsed: ParsedMessage) -> datetime | None:
    try:
        value = email.utils.parsedate_to_datetime(parsed.date_str)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else None


def _new_message(
    *, source: IntakeSource, uidvalidity: int, uid: int, raw: bytes, parsed: ParsedMessage, sha256: str, key: str
) -> MailMessage:
    return MailMessage(
        organisation_id=source.organisation_id,
        source=source,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=(parsed.obj.get("Message-ID") or "").strip()[:998],
        sender=parsed.from_[:998],
        subject=parsed.subject[:998],
        sent_at=_sent_at(parsed),
        size=len(raw),
        sha256=sha256,
        storage_key=key,
    )


def _remove(keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:  # cleanup_orphans removes what this cannot
            logger.exception("could not remove an object of an email not recorded", extra={"key": key})


def _attachments(parsed: ParsedMessage) -> list:
    # Images embedded in the HTML body (inline, with a Content-ID: logos, signatures) belong to the
    # message, which is kept whole; everything else attached is a document.
    return [
        part
        for part in parsed.attachments
        if not (part.content_disposition == "inline" and part.content_id)
        and part.content_type != "message/delivery-status"
    ]


def _items(
    *, source: IntakeSource, message: MailMessage, parsed: ParsedMessage, uidvalidity: int, uid: int, new: bool,
    stored: list[str] | None = None,
) -> list[Received]:  # fmt: skip
    provenance = {
        "sender": message.sender,
        "subject": message.subject,
        "date": message.sent_at.isoformat() if message.sent_at else "",
        "message_id": message.message_id,
    }
    items = []
    for index, part in enumerate(_attachments(parsed), start=1):
        received = inbox_receive(
            source=source,
            filename=part.filename or f"attachment-{index}",
            chunks=[part.payload],
            source_identity=f"imap:{source.pk}:{uidvalidity}:{uid}:{index}",
            provenance={**provenance, "attachment": index},
            mail_message=message,
            identity_is_new=new,
        )
        if stored is not None and received.created and received.item.storage_key:
            stored.append(received.item.storage_key)
        items.append(received)
    return items


def _ended(put: Future) -> None:
    """Wait for the .eml put to end, so that removing its object cannot race it."""
    try:
        put.result()
    except Exception:  # the put's own failure: the caller is already handling a failure
        logger.info("the .eml put of an email not recorded failed too", exc_info=True)


def mail_receive(*, source: IntakeSource, uidvalidity: int, uid: int, raw: bytes) -> MailReceived:
    """Store the message and make one inbox item per attachment; safe to repeat for the same UID.

    A new message is recorded in one transaction with all its items (each with its audit event
    and queued scan). The ``.eml`` is put (on another thread) while the attachments are parsed,
    checked and put; the rows commit together, and only after every object was stored, or not at
    all, and the objects of a message that did not commit are removed. A message recorded before
    (a crash after the commit, before the move; or another receiver first) is found by its unique
    (source, UIDVALIDITY, UID) when its row is inserted: the ``.eml`` just put is removed and only
    its missing items are made, each in its own transaction, as before.
    """
    sha256 = hashlib.sha256(raw).hexdigest()
    key = _mail_key(source.organisation_id, uuid.uuid4())
    put = _eml_puts.submit(storage.put_bytes, key=key, data=raw, content_type="message/rfc822", sha256=sha256)
    stored = [key]
    committed = False

    def _committed() -> None:
        nonlocal committed
        committed = True

    try:
        parsed = ParsedMessage.from_bytes(raw)
        message = _new_message(
            source=source, uidvalidity=uidvalidity, uid=uid, raw=raw, parsed=parsed, sha256=sha256, key=key
        )
        with transaction.atomic():
            transaction.on_commit(_committed)  # first, so it runs before the queued scans
            message.save(force_insert=True)
            items = _items(
                source=source, message=message, parsed=parsed, uidvalidity=uidvalidity, uid=uid, new=True,
                stored=stored,
            )  # fmt: skip
            put.result()  # the .eml is stored before anything commits (StorageUnavailable rolls back)
    except IntegrityError:
        if committed:
            raise
        _ended(put)
        _remove(stored)
        existing = MailMessage.objects.filter(source=source, uidvalidity=uidvalidity, uid=uid).first()
        if existing is None:
            raise
        items = _items(source=source, message=existing, parsed=parsed, uidvalidity=uidvalidity, uid=uid, new=False)
        return MailReceived(existing, items)
    except BaseException:
        if not committed:
            _ended(put)
            _remove(stored)
        raise
    return MailReceived(message, items)
