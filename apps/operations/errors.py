"""The operations app's failures (operator commands turn them into messages and exit codes)."""

from __future__ import annotations


class ArchiveError(Exception):
    """The archive is unusable, does not match its manifest, or cannot be imported here."""
