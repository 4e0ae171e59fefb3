"""Services that change documents. Views, API, tasks and commands call these."""

from apps.documents.services.changes import (
    document_restore,
    document_set_legal_hold,
    document_soft_delete,
    document_update,
)
from apps.documents.services.scanning import document_mark_corrupt, document_record_scan
from apps.documents.services.upload import (
    UploadRequest,
    document_new_version,
    document_stream_target,
    document_upload,
    document_upload_bulk,
    document_upload_each,
)

__all__ = [
    "UploadRequest",
    "document_mark_corrupt",
    "document_new_version",
    "document_record_scan",
    "document_restore",
    "document_set_legal_hold",
    "document_soft_delete",
    "document_stream_target",
    "document_update",
    "document_upload",
    "document_upload_bulk",
    "document_upload_each",
]
