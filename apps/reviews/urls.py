from django.urls import path

from apps.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.my_reviews, name="mine"),
    path("overdue/", views.overdue_report, name="overdue"),
    path("<str:review_id>/complete/", views.review_complete, name="complete"),
    path("documents/<str:document_id>/assign/", views.document_review_assign, name="assign"),
]
