"""Receiving one email: the message kept as provenance (``.eml``), each attachment an inbox item.

Idempotent by the message's place on the server (source, UIDVALIDITY, UID) and each
attachment's position in it: receiving the same message again adds nothing.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from imap_tools import MailMessage as ParsedMessage

from apps.files import storage
from apps.inbox.models import IntakeSource, MailMessage
from apps.inbox.services.intake import Received, inbox_receive

logger = logging.getLogger(__name__)


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


def _message_row(*, source: IntakeSource, uidvalidity: int, uid: int, raw: bytes, parsed: ParsedMessage) -> MailMessage:
    existing = MailMessage.objects.filter(source=source, uidvalidity=uidvalidity, uid=uid).first()
    if existing is not None:
        return existing
    row = MailMessage(
        organisation_id=source.organisation_id,
        source=source,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=(parsed.obj.get("Message-ID") or "").strip()[:998],
        sender=parsed.from_[:998],
        subject=parsed.subject[:998],
        sent_at=_sent_at(parsed),
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    row.storage_key = _mail_key(source.organisation_id, row.pk)
    storage.put_bytes(key=row.storage_key, data=raw, content_type="message/rfc822", sha256=row.sha256)
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        storage.delete(row.storage_key)
        return MailMessage.objects.get(source=source, uidvalidity=uidvalidity, uid=uid)
    except BaseException:
        storage.delete(row.storage_key)
        raise
    return row


def _attachments(parsed: ParsedMessage) -> list:
    # Images embedded in the HTML body (inline, with a Content-ID: logos, signatures) belong to the
    # message, which is kept whole; everything else attached is a document.
    return [
        part
        for part in parsed.attachments
        if not (part.content_disposition == "inline" and part.content_id)
        and part.content_type != "message/delivery-status"
    ]


def mail_receive(*, source: IntakeSource, uidvalidity: int, uid: int, raw: bytes) -> MailReceived:
    """Store the message and make one inbox item per attachment; safe to repeat for the same UID."""
    parsed = ParsedMessage.from_bytes(raw)
    message = _message_row(source=source, uidvalidity=uidvalidity, uid=uid, raw=raw, parsed=parsed)
    provenance = {
        "sender": message.sender,
        "subject": message.subject,
        "date": message.sent_at.isoformat() if message.sent_at else "",
        "message_id": message.message_id,
    }
    items = []
    for index, part in enumerate(_attachments(parsed), start=1):
        items.append(
            inbox_receive(
                source=source,
                filename=part.filename or f"attachment-{index}",
                chunks=[part.payload],
                source_identity=f"imap:{source.pk}:{uidvalidity}:{uid}:{index}",
                provenance={**provenance, "attachment": index},
                mail_message=message,
            )
        )
    return MailReceived(message, items)
