"""Profile photos' bytes: a 512 px photo and a 64 px square avatar, both WebP.

The uploaded file must really be a JPEG, PNG or WebP image (magic bytes, then a
full decode within the pixel limit); it is re-encoded, so camera EXIF never
reaches storage. Keys never contain anything a user typed: ``{prefix}/photo/{uuid}.webp``
and ``…_avatar.webp``. The owners' services (``apps.patients.photos``,
``apps.accounts.photos``) choose the prefix, check who may change it and audit.

Replacing (or removing) a photo deletes the old objects once the change is committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Manager
from django.db.models.options import Options
from PIL import Image

from apps.files import storage
from apps.files.errors import EmptyFile, ImageTooLarge, NotAPhoto, ThumbnailError
from apps.files.rendering import avatar, resize_photo
from apps.files.spooling import SpooledFile

logger = logging.getLogger(__name__)

PHOTO_SIDE = 512
AVATAR_SIDE = 64
_PHOTO_MAGIC = {
    "JPEG": lambda head: head.startswith(b"\xff\xd8\xff"),
    "PNG": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "WEBP": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
}


# --- checks ------------------------------------------------------------------------------


def _check_photo_type(spooled: SpooledFile) -> str:
    if spooled.size == 0:
        raise EmptyFile()
    found = [name for name, matches in _PHOTO_MAGIC.items() if matches(spooled.head)]
    if len(found) != 1:
        raise NotAPhoto()
    return found[0]


def _check_photo_pixels(spooled: SpooledFile, image_format: str) -> None:
    max_pixels = settings.QUILL_MAX_IMAGE_PIXELS
    try:
        with Image.open(spooled.path, formats=[image_format]) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(max_pixels=max_pixels) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotAPhoto("This photo is damaged or is not really a JPEG, PNG or WebP image.") from exc
    if width * height > max_pixels:
        raise ImageTooLarge(width=width, height=height, max_pixels=max_pixels)


def _render(spooled: SpooledFile) -> tuple[bytes, bytes]:
    """(photo, avatar) WebP bytes, or a refusal naming what is wrong with the file."""
    image_format = _check_photo_type(spooled)
    _check_photo_pixels(spooled, image_format)
    try:
        return resize_photo(spooled.path, max_side=PHOTO_SIDE), avatar(spooled.path, side=AVATAR_SIDE)
    except ThumbnailError as exc:
        raise NotAPhoto("This photo is damaged or incomplete, so Quill cannot read it.") from exc


# --- keys and objects --------------------------------------------------------------------


def _keys(prefix: str) -> tuple[str, str]:
    stem = f"{prefix}/photo/{uuid.uuid4()}"
    return f"{stem}.webp", f"{stem}_avatar.webp"


def _put_pair(photo_key: str, avatar_key: str, photo: bytes, avatar_bytes: bytes) -> None:
    storage.put_bytes(key=photo_key, data=photo, content_type="image/webp")
    try:
        storage.put_bytes(key=avatar_key, data=avatar_bytes, content_type="image/webp")
    except BaseException:
        _remove_now([photo_key])
        raise


def _remove_now(keys: list[str]) -> None:
    for key in keys:
        if not key:
            continue
        try:
            storage.delete(key)
        except Exception:  # an orphan costs a few KB; the sweep (cleanup_orphans) removes it
            logger.exception("could not remove an old profile photo object", extra={"key": key})


# --- replacing an owner's photo ---------------------------------------------------------------


class PhotoOwner(Protocol):
    """A row with a photo: a patient or a user."""

    _meta: ClassVar[Options[Any]]
    pk: Any
    photo_key: str
    avatar_key: str


def photo_replace(
    *,
    owner: PhotoOwner,
    prefix: str,
    spooled: SpooledFile | None,
    check: Callable[[], None],
    record: Callable[[str], object],
) -> None:
    """Store a new photo pair under `prefix` (or none, to remove it) and point `owner` at it.

    `check()` first (the caller's permission rule; the upload is discarded if it refuses).
    Render and store; then, in one transaction, lock the owner's row, swap the keys and call
    `record(change)` with "added", "replaced" or "removed" (the caller's audit event). The old
    objects go after commit; the new ones go at once if anything fails.
    """
    new_keys: list[str] = []
    try:
        check()
        if spooled is not None:
            photo, avatar_bytes = _render(spooled)
            new_keys = list(_keys(prefix))
            _put_pair(new_keys[0], new_keys[1], photo, avatar_bytes)
        photo_key, avatar_key = new_keys or ["", ""]
        with transaction.atomic():
            old_keys = _swap(owner, photo_key=photo_key, avatar_key=avatar_key)
            record(_change_name(spooled, old_keys))
            transaction.on_commit(lambda: _remove_now(old_keys))
    except BaseException:
        _remove_now(new_keys)
        raise
    finally:
        if spooled is not None:
            spooled.discard()


def _swap(owner: PhotoOwner, *, photo_key: str, avatar_key: str) -> list[str]:
    """Point `owner` at the new keys (row locked); returns the old keys to remove after commit."""
    # The owner's own model (a patient or a user; not type(owner): request.user is a lazy proxy).
    manager: Manager[Any] = owner._meta.model._default_manager
    locked = manager.select_for_update().get(pk=owner.pk)
    old = [locked.photo_key, locked.avatar_key]
    manager.filter(pk=owner.pk).update(photo_key=photo_key, avatar_key=avatar_key)
    owner.photo_key, owner.avatar_key = photo_key, avatar_key
    return [key for key in old if key]


def _change_name(spooled: SpooledFile | None, old_keys: list[str]) -> str:
    """How the audit event describes the change."""
    return "removed" if spooled is None else "replaced" if old_keys else "added"
