from django.urls import path

from apps.reviews import api

urlpatterns = [
    path("reviews/", api.MyReviewsView.as_view(), name="api-reviews"),
    path("reviews/<uuid:review_id>/complete/", api.ReviewCompleteView.as_view(), name="api-reviews-complete"),
    path("documents/<uuid:document_id>/reviews/", api.DocumentReviewsView.as_view(), name="api-document-reviews"),
]
