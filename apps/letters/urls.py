from django.urls import path

from apps.letters import views

app_name = "letters"

urlpatterns = [
    path("patient/<uuid:patient_id>/", views.patient_letters, name="patient_letters"),
    path("patient/<uuid:patient_id>/new/", views.letter_new, name="new"),
    path("<uuid:letter_id>/", views.letter_detail, name="detail"),
    path("<uuid:letter_id>/edit/", views.letter_edit, name="edit"),
    path("<uuid:letter_id>/pages/<int:page>.webp", views.letter_preview_page_view, name="preview_page"),
    path("<uuid:letter_id>/finalise/", views.letter_finalise_view, name="finalise"),
    path("<uuid:letter_id>/amend/", views.letter_amend_view, name="amend"),
]
