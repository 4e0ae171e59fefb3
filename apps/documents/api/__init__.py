"""REST API for documents. Thin: parse, call selectors/services, shape the answer.

`upload` (list and upload), `document` (one document and its versions), `content`
(its bytes and download links), `annotations`; `_common` holds what they share.
"""

from apps.documents.api.annotations import DocumentAnnotationDetailView, DocumentAnnotationsView
from apps.documents.api.content import DocumentContentView, DocumentDownloadUrlView, SignedDownloadView
from apps.documents.api.document import (
    DocumentDetailView,
    DocumentLegalHoldView,
    DocumentRestoreView,
    DocumentVersionsView,
)
from apps.documents.api.search import DocumentSearchView
from apps.documents.api.upload import DocumentBulkUploadView, DocumentDirectUploadView, DocumentListCreateView

__all__ = [
    "DocumentAnnotationDetailView",
    "DocumentAnnotationsView",
    "DocumentBulkUploadView",
    "DocumentContentView",
    "DocumentDetailView",
    "DocumentDirectUploadView",
    "DocumentDownloadUrlView",
    "DocumentLegalHoldView",
    "DocumentListCreateView",
    "DocumentRestoreView",
    "DocumentSearchView",
    "DocumentVersionsView",
    "SignedDownloadView",
]
