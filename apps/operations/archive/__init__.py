"""A self-contained, portable archive of one organisation or the whole installation, and its restore.

The archive is one uncompressed POSIX tar file (documents are PDFs and images: they do not
compress), written and read member by member, so nothing is ever held whole in memory:

    rows/<table>.jsonl     one JSON object per row (organisations, users, patients, documents, ...)
    audit/events.jsonl     every audit event of the chains in scope, in chain order
    objects/<storage key>  the stored objects: documents, thumbnails, patient and user photos,
                           filed inbox items as received and the e-mails they came in
    objects.jsonl          the object index: key, sha256, size (and which document)
    manifest.json          written last: scope, organisations, counts, the sha256 of every file
                           above, and the audit chain heads

`documents.jsonl` carries every document's metadata and sha256, `patients.jsonl` and
`letters.jsonl` the patients and letters, `reviews.jsonl` the clinical reviews and
`inbox_filed_documents.jsonl` which inbox item (and pages) each filed document came from; the
manifest lists them by checksum rather than copying them, which keeps it small however large
the installation.

Import restores into an EMPTY installation only: rows are inserted exactly as exported
(Django's Python deserializer builds them; ``bulk_create`` inserts them, or a raw
fixture-style save for models with ``auto_now``: no `audit_record`, audit rows keep their
ids and hashes), every file and object is re-hashed while it is read, every audit event's hash is recomputed and
linked, chain heads are set from the archive, and the restored chains are verified before the
transaction commits. On any failure the transaction rolls back and written objects are removed.

Intake sources are restored switched off (the one change a restore makes to a row): a restored
copy must not take files or e-mails meant for the installation it came from.

Not archived: API tokens (reissue them), TOTP devices (users enrol again), sessions, lockout
records, outbox messages (run the resync commands), group/permission memberships, the inbox's
working state (items not filed, inbox settings and rules); ``format.NOT_ARCHIVED`` gives each reason.

The package: ``format`` (members, scope, row encoding), ``export`` and ``restore``.
"""

from .export import ExportResult, export_archive
from .format import IMPORTED_MODELS, TABLES, ArchiveError, decode_row, encode_row
from .restore import ImportResult, import_archive, installation_is_empty

__all__ = [
    "IMPORTED_MODELS",
    "TABLES",
    "ArchiveError",
    "ExportResult",
    "ImportResult",
    "decode_row",
    "encode_row",
    "export_archive",
    "import_archive",
    "installation_is_empty",
]
