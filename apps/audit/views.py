"""Portal pages for administrators and owners: break-glass events."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.audit.actions import Action
from apps.audit.services import audit_denied, audit_record
from apps.patients.selectors import break_glass_grants_visible_to
from quill.portal import render_refusal
from quill.types import AuthenticatedHttpRequest

PAGE_SIZE = 25


@never_cache
@login_required
@require_GET
def break_glass_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every break-glass opening in the organisation, newest first, with reason and expiry."""
    if not request.user.is_manager:
        attempted = {"attempted": "break_glass.list"}
        audit_denied(action=Action.ACCESS_DENIED, actor=request.user, reason="role_required", details=attempted)
        message = "Only administrators and owners can review break-glass openings."
        return render_refusal(request, message, 403)
    page = Paginator(break_glass_grants_visible_to(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        action=Action.AUDIT_BREAK_GLASS_LISTED,
        actor=request.user,
        object_type="break_glass_access",
        details={"page": page.number},
    )
    return render(request, "audit/break_glass_list.html", {"page": page})
