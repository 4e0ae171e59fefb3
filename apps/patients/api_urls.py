from django.urls import path

from apps.patients import api

urlpatterns = [
    path("patients/", api.PatientListCreate.as_view(), name="api-patients"),
    path("patients/<uuid:patient_id>/", api.PatientDetail.as_view(), name="api-patient-detail"),
    path("patients/<uuid:patient_id>/break-glass/", api.PatientBreakGlass.as_view(), name="api-patient-break-glass"),
]
