"""Test-only URLs: the project's URLs plus a few tiny pages behind sign-in.

Used with `@pytest.mark.urls("tests.accounts.urls")`.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from quill.urls import urlpatterns as project_urlpatterns

logger = logging.getLogger("quill.tests")


@login_required
def signed_in_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"signed in as {request.user.email}")


def logging_page(request: HttpRequest) -> HttpResponse:
    logger.info("hello from a request", extra={"patient_count": 3})
    return HttpResponse("logged")


@api_view(["GET"])
def whoami(request: Request) -> Response:
    return Response({"email": request.user.email, "organisation": str(request.user.organisation_id)})


urlpatterns = [
    path("quill-test/page/", signed_in_page, name="test-page"),
    path("quill-test/log/", logging_page, name="test-log"),
    path("api/quill-test/whoami/", whoami, name="test-whoami"),
]
urlpatterns += project_urlpatterns
