"""Portal plumbing shared by every app: typed refusals rendered as calm pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from quill import request_context
from quill.errors import NotFound, PermissionDenied, QuillError

_TITLES = {403: "Not allowed", 404: "Not found"}


def render_refusal(request: HttpRequest, message: str, status: int, *, title: str = "") -> HttpResponse:
    context = {"title": title or _TITLES.get(status, "Not possible"), "message": message, "status": status}
    return render(request, "refused.html", context, status=status)


RefusalHook = Callable[[HttpRequest, QuillError, dict[str, Any]], HttpResponse | None]


def refusals_as_pages(*, not_found: str, hook: RefusalHook | None = None) -> Callable:
    """404 (with `not_found`, no existence leak) for what the user may not know exists; the
    refusal's own status and message otherwise. `hook` may answer a refusal first."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except QuillError as refusal:
                request_context.note_refusal(refusal.error_code)
                answer = hook(request, refusal, kwargs) if hook else None
                if answer is not None:
                    return answer
                if isinstance(refusal, NotFound):
                    return render_refusal(request, not_found, 404)
                status = 403 if isinstance(refusal, PermissionDenied) else refusal.http_status
                return render_refusal(request, refusal.message, status)

        return wrapper

    return decorate
