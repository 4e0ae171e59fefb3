from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.fhir import views as fhir_views
from apps.patients import views as patient_views
from quill import health
from quill.api_root import ApiRootView

handler404 = "quill.api.page_not_found"

urlpatterns = [
    path("", lambda request: redirect("patients:list"), name="home"),
    # Browsers ask for /favicon.ico on pages that do not name an icon (the admin, JSON, files).
    path("favicon.ico", lambda request: redirect(static("img/favicon.svg"), permanent=True), name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("apps.accounts.urls")),
    path("patients/", include("apps.patients.urls")),
    path("documents/", include("apps.documents.urls")),
    path("letters/", include("apps.letters.urls")),
    path("inbox/", include("apps.inbox.urls")),
    path("reviews/", include("apps.reviews.urls")),
    # The managers' review of break-glass openings: patients' data, shown in the audit area.
    path("audit/break-glass/", patient_views.break_glass_log, name="break_glass_log"),
    path("admin/", admin.site.urls),
    path("api/", ApiRootView.as_view(), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from Quill's own static files (drf-spectacular-sidecar); its start-up script is a
    # separate URL, not inline, so the page runs under script-src 'self'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("apps.patients.api_urls")),
    path("api/", include("apps.documents.api_urls")),
    path("api/", include("apps.letters.api_urls")),
    path("api/", include("apps.audit.api_urls")),
    path("api/", include("apps.inbox.api_urls")),
    path("api/", include("apps.reviews.api_urls")),
    # ITI-65 POSTs the transaction Bundle to the FHIR base, which clients write without a slash.
    path("fhir/r4", fhir_views.TransactionView.as_view(), name="fhir-transaction"),
    path("fhir/r4/", include("apps.fhir.urls")),
]
