"""Profile photos of patients and users: a 512 px photo and a 64 px square avatar, both WebP.

The uploaded file must really be a JPEG, PNG or WebP image (magic bytes, then a
full decode within the pixel limit); it is re-encoded, so camera EXIF never
reaches storage. Keys never contain anything a user typed:

- patient: ``{organisation_id}/{patient_id}/photo/{uuid}.webp`` and ``…/{uuid}_avatar.webp``
- user: ``{organisation_id}/users/{user_id}/photo/{uuid}.webp`` and ``…/{uuid}_avatar.webp``

Replacing (or removing) a photo deletes the old objects once the change is committed.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from PIL import Image

from apps.accounts.models import User
from apps.audit.services import audit_record
from apps.documents import storage
from apps.documents.errors import EmptyFile, ImageTooLarge, ThumbnailError, UploadRejected
from apps.documents.intake import SpooledFile
from apps.patients import access
from apps.patients.models import Patient
from quill.errors import PermissionDenied

logger = logging.getLogger(__name__)

PHOTO_SIDE = 512
AVATAR_SIDE = 64
_PHOTO_MAGIC = {
    "JPEG": lambda head: head.startswith(b"\xff\xd8\xff"),
    "PNG": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "WEBP": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
}


class NotAPhoto(UploadRejected):
    error_code = "not_a_photo"
    http_status = 415
    default_message = "A profile photo must be a JPEG, PNG or WebP image. Choose a photo and try again."


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
    from apps.documents.thumbnails import avatar, resize_photo

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


def patient_photo_prefix(patient: Patient) -> str:
    return f"{patient.organisation_id}/{patient.pk}"


def user_photo_prefix(user: User) -> str:
    return f"{user.organisation_id or 'platform'}/users/{user.pk}"


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


# --- services ------------------------------------------------------------------------------


def ensure_may_change_patient_photo(*, actor: User, patient: Patient) -> None:
    if not access.may_write(actor) or actor.organisation_id != patient.organisation_id:
        raise PermissionDenied("Only clinical staff may change a patient's photo.")


def ensure_may_change_user_photo(*, actor: User, user: User) -> None:
    if actor.pk == user.pk:
        return
    if actor.is_manager and actor.organisation_id == user.organisation_id:
        return
    raise PermissionDenied("You may change only your own photo (administrators may change their colleagues').")


def _swap(owner: Patient | User, *, photo_key: str, avatar_key: str) -> list[str]:
    """Point `owner` at the new keys (row locked); returns the old keys to remove after commit."""
    model = Patient if isinstance(owner, Patient) else User
    locked = model.objects.select_for_update().get(pk=owner.pk)
    old = [locked.photo_key, locked.avatar_key]
    model.objects.filter(pk=owner.pk).update(photo_key=photo_key, avatar_key=avatar_key)
    owner.photo_key, owner.avatar_key = photo_key, avatar_key
    return [key for key in old if key]


def _set_photo(
    *, actor: User, owner: Patient | User, prefix: str, spooled: SpooledFile | None, action: str, check
) -> None:
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
            is_patient = isinstance(owner, Patient)
            audit_record(
                action=action,
                actor=actor,
                organisation_id=owner.organisation_id,
                patient_id=owner.pk if is_patient else None,
                object_type="patient" if is_patient else "user",
                object_id=owner.pk,
                details={"photo": "removed" if spooled is None else "replaced" if old_keys else "added"},
            )
            transaction.on_commit(lambda: _remove_now(old_keys))
    except BaseException:
        _remove_now(new_keys)
        raise
    finally:
        if spooled is not None:
            spooled.discard()


def patient_photo_set(*, actor: User, patient: Patient, spooled: SpooledFile) -> Patient:
    """Store a new photo and avatar for `patient` (authorised by a selector); old objects go."""
    _set_photo(
        actor=actor,
        owner=patient,
        prefix=patient_photo_prefix(patient),
        spooled=spooled,
        action="patient.photo_changed",
        check=lambda: ensure_may_change_patient_photo(actor=actor, patient=patient),
    )
    return patient


def patient_photo_remove(*, actor: User, patient: Patient) -> Patient:
    _set_photo(
        actor=actor,
        owner=patient,
        prefix="",
        spooled=None,
        action="patient.photo_removed",
        check=lambda: ensure_may_change_patient_photo(actor=actor, patient=patient),
    )
    return patient


def user_photo_set(*, actor: User, user: User, spooled: SpooledFile) -> User:
    _set_photo(
        actor=actor,
        owner=user,
        prefix=user_photo_prefix(user),
        spooled=spooled,
        action="user.photo_changed",
        check=lambda: ensure_may_change_user_photo(actor=actor, user=user),
    )
    return user


def user_photo_remove(*, actor: User, user: User) -> User:
    _set_photo(
        actor=actor,
        owner=user,
        prefix="",
        spooled=None,
        action="user.photo_removed",
        check=lambda: ensure_may_change_user_photo(actor=actor, user=user),
    )
    return user
