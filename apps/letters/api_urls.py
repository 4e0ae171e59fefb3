from django.urls import path

from apps.letters import api

urlpatterns = [
    path("patients/<uuid:patient_id>/letters/", api.PatientLettersView.as_view(), name="api-patient-letters"),
    path("letters/<uuid:letter_id>/", api.LetterDetailView.as_view(), name="api-letter"),
    path("letters/<uuid:letter_id>/finalise/", api.LetterFinaliseView.as_view(), name="api-letter-finalise"),
    path("letters/<uuid:letter_id>/amend/", api.LetterAmendView.as_view(), name="api-letter-amend"),
]
