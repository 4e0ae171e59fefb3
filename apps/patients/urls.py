from django.urls import path

from apps.patients import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_new, name="new"),
    path("<uuid:patient_id>/", views.patient_detail, name="detail"),
    path("<uuid:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<uuid:patient_id>/break-glass/", views.patient_break_glass_view, name="break_glass"),
    path("<uuid:patient_id>/access-report/", views.patient_access_report, name="access_report"),
    path("<uuid:patient_id>/care-team/", views.patient_care_team_add_view, name="care_team_add"),
    path(
        "<uuid:patient_id>/care-team/<int:user_id>/remove/",
        views.patient_care_team_remove_view,
        name="care_team_remove",
    ),
]
