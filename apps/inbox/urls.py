from django.urls import path

from apps.inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox_list, name="list"),
    path("bulk/", views.inbox_bulk, name="bulk"),
    path("merge/", views.inbox_merge_view, name="merge"),
    path("<uuid:item_id>/", views.inbox_item, name="item"),
    path("<uuid:item_id>/reject/", views.inbox_item_reject, name="reject"),
    path("<uuid:item_id>/thumbnail", views.inbox_item_thumbnail, name="thumbnail"),
    path("<uuid:item_id>/content", views.inbox_item_content, name="content"),
    path("<uuid:item_id>/pages/<int:page>/<str:size>.webp", views.inbox_item_page_image, name="page_image"),
]
