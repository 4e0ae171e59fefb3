"""Refusals of the inbox: closed items, a reused idempotency key, a source that cannot be used."""

from __future__ import annotations

from quill.errors import Conflict, QuillError, ValidationFailed


class ItemNotOpen(Conflict):
    error_code = "inbox_item_closed"
    default_message = "This inbox item has already been filed, rejected or merged; reload the inbox."


class IdempotencyKeyReused(Conflict):
    error_code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used for a different file. Use a new key for each new document."


class InvalidHint(ValidationFailed):
    error_code = "invalid_patient_hint"
    default_message = "A patient hint is not valid."


class SourceMisconfigured(QuillError):
    """Operators only: an intake source cannot be used as configured (the intake process logs and skips it)."""

    error_code = "intake_source_misconfigured"
    default_message = "This intake source is not configured correctly."


class SplitInvalid(ValidationFailed):
    error_code = "inbox_split_invalid"
    default_message = "The page ranges of this split cannot be used."


class ItemNotReady(Conflict):
    error_code = "inbox_item_not_ready"
    default_message = "This inbox item is still being checked for viruses; try again in a moment."


class MergeInvalid(ValidationFailed):
    error_code = "inbox_merge_invalid"
    default_message = "These inbox items cannot be merged."


class PartRefused(QuillError):
    """One part of a split was refused: the whole split is refused, and ``part`` (from 0) says which."""

    error_code = "inbox_split_part_refused"
    default_message = "A part of this split was refused; nothing was filed."

    def __init__(self, cause: QuillError, *, part: int) -> None:
        super().__init__(cause.message, part=part, cause=cause.error_code)
        self.part = part
        self.cause = cause
