"""Portal pages for documents. Thin: parse, call a selector or service, render.

One module per part of the portal: `patient` (the patient page's region and uploads),
`document` (one document), `administration` (deleted and quarantined), `photos`
(profile photos); `_common` holds the plumbing they share.
"""

from apps.documents.views.administration import deleted_list, document_restore_view, quarantine_list
from apps.documents.views.document import (
    annotation_delete_view,
    document_delete_view,
    document_detail,
    document_new_version_view,
    document_page_image,
    document_status,
    document_thumbnail,
)
from apps.documents.views.patient import (
    document_bulk_view,
    document_upload_view,
    patient_documents_context,
    patient_documents_list,
)
from apps.documents.views.photos import patient_photo_image, patient_photo_view, user_photo_image, user_photo_view
from apps.documents.views.search import document_page_words, document_search_page

__all__ = [
    "annotation_delete_view",
    "deleted_list",
    "document_bulk_view",
    "document_delete_view",
    "document_detail",
    "document_new_version_view",
    "document_page_image",
    "document_page_words",
    "document_restore_view",
    "document_search_page",
    "document_status",
    "document_thumbnail",
    "document_upload_view",
    "patient_documents_context",
    "patient_documents_list",
    "patient_photo_image",
    "patient_photo_view",
    "quarantine_list",
    "user_photo_image",
    "user_photo_view",
]
