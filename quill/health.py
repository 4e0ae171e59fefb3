"""Liveness and readiness probes (JSON). Readiness checks live in quill.checks."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from quill.checks import ready as all_ready
from quill.checks import run_checks


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    ready = all_ready(results)
    body = {"status": "ready" if ready else "unavailable", "checks": {r.name: r.as_dict() for r in results}}
    return JsonResponse(body, status=200 if ready else 503)
