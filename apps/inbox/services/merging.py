"""Merging inbox items: the pages of one letter that arrived as separate scans or attachments become one item.

The merged item is new: a PDF of the sources' pages in the order chosen (``apps.inbox.pdfs``),
received through the same pipeline as any incoming file (checks, hashing, storage, virus
scan, then text and suggestions). The sources are closed as ``merged``, each naming the new
item and its place in it, with their own bytes kept exactly as received. All of it happens in
one transaction with the sources locked, so two people merging the same items at once make
one merged item; a refusal leaves no item, no closed source and no stored object behind.
"""

from __future__ import annotations

import os
import tempfile
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.files.filenames import split_extension
from apps.files.spooling import read_chunks, spool
from apps.inbox.errors import ItemNotOpen, ItemNotReady, MergeInvalid
from apps.inbox.models import InboxItem, ItemState
from apps.inbox.pdfs import MERGEABLE_TYPES, merged_pdf
from apps.inbox.services.intake import _audit, _receive, _remove
from apps.inbox.services.preparation import local_copy

MAX_MERGED_ITEMS = 50


def _check_state(item: InboxItem) -> None:
    if item.state == ItemState.SCANNING:
        raise ItemNotReady(f"“{item.original_filename}” is still being checked for viruses; merge it once it is ready.")
    if item.state != ItemState.READY:
        raise ItemNotOpen(
            f"“{item.original_filename}” is {item.get_state_display().lower()}, so it cannot be merged; "
            "reload the inbox."
        )


def _check(items: list[InboxItem]) -> None:
    if len(items) < 2:
        raise MergeInvalid("Choose at least two inbox items to merge.")
    if len(items) > MAX_MERGED_ITEMS:
        raise MergeInvalid(f"Merge at most {MAX_MERGED_ITEMS} items at once.")
    if len({item.pk for item in items}) != len(items):
        raise MergeInvalid("The same item is chosen twice; choose each item once.")
    if len({item.organisation_id for item in items}) != 1:
        raise MergeInvalid("Items of different organisations cannot be merged.")
    for item in items:
        _check_state(item)
        if item.content_type not in MERGEABLE_TYPES:
            raise MergeInvalid(
                f"“{item.original_filename}” ({item.content_type or 'unknown type'}) cannot become PDF pages; "
                "only PDF, JPEG, PNG and TIFF items can be merged."
            )


def _merged_filename(items: list[InboxItem]) -> str:
    stem = split_extension(items[0].original_filename)[0] or "document"
    return f"{stem[:180]} (merged, {len(items)} items).pdf"


def _build(items: list[InboxItem], workdir: str) -> str:
    """The merged PDF in `workdir`: each source copied out of storage in turn, then their pages joined."""
    sources = []
    for index, item in enumerate(items):
        path = os.path.join(workdir, f"source-{index}")
        with local_copy(item.storage_key) as local:
            os.replace(local, path)
        sources.append((path, item.content_type))
    destination = os.path.join(workdir, "merged.pdf")
    try:
        merged_pdf(sources, destination)
    except Exception as exc:  # a source pikepdf or Pillow cannot read, though the intake checks passed it
        raise MergeInvalid(f"These items could not be joined into one PDF ({type(exc).__name__}).") from exc
    return destination


def inbox_merge(*, actor: User, items: list[InboxItem]) -> InboxItem:
    """One new inbox item of `items`' pages in this order; the items close as merged into it.

    The caller has found each item within the actor's organisation (``inbox_item_get_for``).
    """
    _check(items)
    first = items[0]
    with tempfile.TemporaryDirectory(prefix="quill-merge-") as workdir:
        path = _build(items, workdir)
        with open(path, "rb") as reader:
            spooled = spool(
                read_chunks(reader), max_bytes=settings.QUILL_MAX_UPLOAD_BYTES, tmp_dir=settings.FILE_UPLOAD_TEMP_DIR
            )
    mails = {item.mail_message_id for item in items}
    base = InboxItem(
        organisation_id=first.organisation_id,
        source=first.source,
        source_identity=f"merge:{uuid.uuid4()}",
        mail_message_id=mails.pop() if len(mails) == 1 else None,
        provenance={"merged_from": [str(item.pk) for item in items], "merged_by": actor.email},
        hints=first.hints,
        original_filename=_merged_filename(items),
    )
    stored_key = ""
    try:
        with transaction.atomic():
            sources = InboxItem.objects.select_for_update().filter(pk__in=[item.pk for item in items])
            locked = {item.pk: item for item in sources.order_by("pk")}
            for item in items:
                _check_state(locked[item.pk])
            received = _receive(base, spooled, actor=actor, identity_includes_sha256=False)
            merged = received.item
            stored_key = merged.storage_key
            if merged.state not in (ItemState.SCANNING, ItemState.READY):
                reason = merged.refusal_reason or "it is a copy of a document already held"
                raise MergeInvalid(f"The merged document was not taken: {reason}")
            now = timezone.now()
            for position, item in enumerate(items, start=1):
                InboxItem.objects.filter(pk=item.pk).update(
                    state=ItemState.MERGED, merged_into=merged, merge_position=position,
                    closed_at=now, closed_by=actor, closed_reason=f"Merged into {merged.original_filename}",
                )  # fmt: skip
                item.state, item.merged_into, item.merge_position = ItemState.MERGED, merged, position
                _audit(item, Action.INBOX_ITEM_MERGED, actor=actor, merged_into=str(merged.pk), position=position)
            _audit(merged, Action.INBOX_ITEMS_MERGED, actor=actor, merged_from=[str(item.pk) for item in items])
    except BaseException:
        if stored_key:
            _remove(stored_key)
        raise
    finally:
        spooled.discard()
    return merged
