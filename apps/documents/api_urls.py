from django.urls import path

from apps.documents import api

urlpatterns = [
    path("documents/", api.DocumentListCreateView.as_view(), name="documents-list"),
    path("documents/search", api.DocumentSearchView.as_view(), name="documents-search"),
    path("documents/upload/", api.DocumentDirectUploadView.as_view(), name="documents-upload"),
    path("documents/bulk/", api.DocumentBulkUploadView.as_view(), name="documents-bulk"),
    path("documents/signed/<str:token>", api.SignedDownloadView.as_view(), name="documents-signed-download"),
    path("documents/<uuid:document_id>/", api.DocumentDetailView.as_view(), name="documents-detail"),
    path("documents/<uuid:document_id>/restore/", api.DocumentRestoreView.as_view(), name="documents-restore"),
    path("documents/<uuid:document_id>/legal-hold/", api.DocumentLegalHoldView.as_view(), name="documents-legal-hold"),
    path("documents/<uuid:document_id>/versions/", api.DocumentVersionsView.as_view(), name="documents-versions"),
    path("documents/<uuid:document_id>/content", api.DocumentContentView.as_view(), name="documents-content"),
    path(
        "documents/<uuid:document_id>/download-url",
        api.DocumentDownloadUrlView.as_view(),
        name="documents-download-url",
    ),
    path(
        "documents/<uuid:document_id>/annotations/",
        api.DocumentAnnotationsView.as_view(),
        name="documents-annotations",
    ),
    path(
        "documents/<uuid:document_id>/annotations/<uuid:annotation_id>/",
        api.DocumentAnnotationDetailView.as_view(),
        name="documents-annotation-detail",
    ),
]
