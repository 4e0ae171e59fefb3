from django.urls import path

from apps.audit import api

urlpatterns = [
    path("audit/", api.AuditEventList.as_view(), name="api-audit-events"),
]
