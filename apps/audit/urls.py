from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("break-glass/", views.break_glass_list, name="break_glass"),
]
