from django.urls import path

from apps.documents import views

app_name = "documents"

urlpatterns = [
    path("search/", views.document_search_page, name="search"),
    path("deleted/", views.deleted_list, name="deleted"),
    path("quarantine/", views.quarantine_list, name="quarantine"),
    path("patient/<uuid:patient_id>/upload/", views.document_upload_view, name="upload"),
    path("patient/<uuid:patient_id>/bulk/", views.document_bulk_view, name="bulk"),
    path("patient/<uuid:patient_id>/list/", views.patient_documents_list, name="patient_list"),
    path("patient/<uuid:patient_id>/photo/", views.patient_photo_view, name="patient_photo"),
    path(
        "patient/<uuid:patient_id>/photo/<str:size>.webp",
        views.patient_photo_image,
        name="patient_photo_image",
    ),
    path("me/photo/", views.user_photo_view, name="my_photo"),
    path("users/<int:user_id>/photo/", views.user_photo_view, name="user_photo"),
    path("users/<int:user_id>/photo/<str:size>.webp", views.user_photo_image, name="user_photo_image"),
    path("<uuid:document_id>/", views.document_detail, name="detail"),
    path("<uuid:document_id>/status", views.document_status, name="status"),
    path("<uuid:document_id>/thumbnail.webp", views.document_thumbnail, name="thumbnail"),
    path("<uuid:document_id>/pages/<int:page>.webp", views.document_page_image, name="page_image"),
    path("<uuid:document_id>/pages/<int:page>/<str:size>.webp", views.document_page_image, name="page_image_sized"),
    path("<uuid:document_id>/pages/<int:page>/words", views.document_page_words, name="page_words"),
    path("<uuid:document_id>/new-version/", views.document_new_version_view, name="new_version"),
    path("<uuid:document_id>/delete/", views.document_delete_view, name="delete"),
    path("<uuid:document_id>/restore/", views.document_restore_view, name="restore"),
    path(
        "<uuid:document_id>/annotations/<uuid:annotation_id>/delete/",
        views.annotation_delete_view,
        name="annotation_delete",
    ),
]
