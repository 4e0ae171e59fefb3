"""``/fhir/r4/`` (included by quill/urls.py): Quill as an IHE MHD Document Responder and Recipient."""

from django.urls import path, re_path

from apps.fhir import views as fhir_views

app_name = "fhir"

urlpatterns = [
    path("", fhir_views.TransactionView.as_view(), name="transaction"),
    path("metadata", fhir_views.MetadataView.as_view(), name="metadata"),
    path(
        "DocumentReference",
        fhir_views.DocumentReferenceSearchView.as_view(http_method_names=["get", "head", "options"]),
        name="documentreference-search",
    ),
    path(
        "DocumentReference/_search",
        fhir_views.DocumentReferenceSearchView.as_view(http_method_names=["post", "options"]),
        name="documentreference-post-search",
    ),
    path(
        "DocumentReference/<str:resource_id>",
        fhir_views.DocumentReferenceReadView.as_view(),
        name="documentreference-read",
    ),
    path(
        "DocumentReference/<str:resource_id>/_history/<str:version_id>",
        fhir_views.DocumentReferenceReadView.as_view(),
        name="documentreference-vread",
    ),
    path("Binary/<str:resource_id>", fhir_views.BinaryReadView.as_view(), name="binary-read"),
    path(
        "Patient",
        fhir_views.PatientSearchView.as_view(http_method_names=["get", "head", "options"]),
        name="patient-search",
    ),
    path(
        "Patient/_search",
        fhir_views.PatientSearchView.as_view(http_method_names=["post", "options"]),
        name="patient-post-search",
    ),
    path("Patient/<str:resource_id>", fhir_views.PatientReadView.as_view(), name="patient-read"),
    path(
        "Patient/<str:resource_id>/_history/<str:version_id>",
        fhir_views.PatientReadView.as_view(),
        name="patient-vread",
    ),
    path(
        "List",
        fhir_views.ListSearchView.as_view(http_method_names=["get", "head", "options"]),
        name="list-search",
    ),
    path(
        "List/_search",
        fhir_views.ListSearchView.as_view(http_method_names=["post", "options"]),
        name="list-post-search",
    ),
    path("List/<str:resource_id>", fhir_views.ListReadView.as_view(), name="list-read"),
    path(
        "List/<str:resource_id>/_history/<str:version_id>",
        fhir_views.ListReadView.as_view(),
        name="list-vread",
    ),
    re_path(r"^(?P<path>.*)$", fhir_views.UnsupportedView.as_view(), name="unsupported"),
]
