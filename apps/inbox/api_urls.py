from django.urls import path

from apps.inbox import api

urlpatterns = [
    path("inbox/", api.InboxUploadView.as_view(), name="api-inbox"),
    path("inbox/merge/", api.InboxMergeView.as_view(), name="api-inbox-merge"),
]
