"""The IMAP mailbox: fetch each message, receive it, then move it to the processed folder.

A message is moved only after ``mail_receive`` returned, that is after its ``.eml`` and
every attachment's item are committed; a crash before the move leaves it in the inbox
folder and the next pass finds its UID already received (nothing is taken twice). The
password is read from the source's secrets file on each connection. TLS is used unless
the source turned it off, which ``source_problems`` allows only for a loopback server.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass

from imap_tools import BaseMailBox, MailBox, MailBoxUnencrypted

from apps.inbox.errors import SourceMisconfigured
from apps.inbox.models import IntakeSource
from apps.inbox.services.mail import mail_receive
from apps.inbox.sources.checks import read_secret_file, source_problems

logger = logging.getLogger(__name__)

IMAP_TIMEOUT_SECONDS = 30
MOVE_BATCH = 50  # stored messages moved to the processed folder in one command


@dataclass(frozen=True)
class ImapPass:
    messages: int
    items: int


def imap_connect(source: IntakeSource) -> BaseMailBox:
    """A logged-in mailbox with the source's folder selected. Raises SourceMisconfigured or OSError."""
    problems = source_problems(source)
    if problems:
        raise SourceMisconfigured("; ".join(problems.values()), source=str(source.pk))
    try:
        password = read_secret_file(source.imap_password_file)
    except OSError as exc:
        raise SourceMisconfigured(f"The IMAP password file cannot be read: {exc.strerror}.") from exc
    if source.imap_tls:
        mailbox: BaseMailBox = MailBox(
            source.imap_host, source.imap_port, timeout=IMAP_TIMEOUT_SECONDS, ssl_context=ssl.create_default_context()
        )
    else:
        mailbox = MailBoxUnencrypted(source.imap_host, source.imap_port, timeout=IMAP_TIMEOUT_SECONDS)
    return mailbox.login(source.imap_username, password, initial_folder=source.imap_folder)


def _uidvalidity(mailbox: BaseMailBox, folder: str) -> int:
    return int(mailbox.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])


def _raw_message(mailbox: BaseMailBox, uid: str) -> bytes | None:
    status, data = mailbox.client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for part in data:
        if isinstance(part, tuple):
            return bytes(part[1])
    return None


def imap_pass_on(mailbox: BaseMailBox, source: IntakeSource) -> ImapPass:
    """Receive every message now in the folder, moving each once stored.

    Stored messages are moved ``MOVE_BATCH`` at a time (one command), and those already stored are
    still moved when a later one fails; a move that does not happen leaves the message for the next
    pass, which finds it already received and only moves it.
    """
    if not mailbox.folder.exists(source.imap_processed_folder):
        mailbox.folder.create(source.imap_processed_folder)
    mailbox.folder.set(source.imap_folder)
    uidvalidity = _uidvalidity(mailbox, source.imap_folder)
    messages = items = 0
    stored: list[str] = []
    try:
        for uid in mailbox.uids("ALL"):
            raw = _raw_message(mailbox, uid)
            if raw is None:
                continue
            received = mail_receive(source=source, uidvalidity=uidvalidity, uid=int(uid), raw=raw)
            stored.append(uid)
            messages += 1
            items += sum(1 for item in received.items if item.created)
            if len(stored) >= MOVE_BATCH:
                mailbox.move(stored, source.imap_processed_folder)
                stored = []
    except BaseException:
        if stored:
            with contextlib.suppress(Exception):  # the connection may be what failed
                mailbox.move(stored, source.imap_processed_folder)
        raise
    if stored:
        mailbox.move(stored, source.imap_processed_folder)
    return ImapPass(messages, items)


def imap_pass(source: IntakeSource) -> ImapPass:
    """Connect, receive what is waiting, disconnect."""
    mailbox = imap_connect(source)
    try:
        return imap_pass_on(mailbox, source)
    finally:
        mailbox.logout()


def imap_loop(source: IntakeSource, *, stop: threading.Event, poll_seconds: float) -> None:
    """Until `stop`: a pass, then wait for new mail (IDLE where offered, else a timed poll).

    Any failure (server down, storage down) is logged and retried after ``poll_seconds``;
    what was not moved stays in the folder for the next pass.
    """
    from django.db import close_old_connections

    while not stop.is_set():
        close_old_connections()
        try:
            mailbox = imap_connect(source)
            try:
                while not stop.is_set():
                    imap_pass_on(mailbox, source)
                    if "IDLE" in mailbox.client.capabilities:
                        mailbox.idle.wait(timeout=poll_seconds)
                    else:
                        stop.wait(poll_seconds)
            finally:
                with contextlib.suppress(Exception):  # the connection may be the thing that failed
                    mailbox.logout()
        except SourceMisconfigured as exc:
            logger.error("IMAP source misconfigured: %s", exc.message, extra={"source": str(source.pk)})
            stop.wait(poll_seconds)
        except Exception:
            logger.warning("IMAP pass failed; retrying", extra={"source": str(source.pk)}, exc_info=True)
            stop.wait(poll_seconds)
