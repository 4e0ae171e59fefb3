"""Every 403 and 404 a signed-in user meets on a route is audited, even where no code recorded it.

The services and selectors record their own refusals with the details they know (the patient,
what was attempted). Whatever refusal reached the response without one (Django's own 404, a
403 from a decorator, a check that forgot) is recorded here, after the response is made, as
``access.denied`` in the caller's chain with the method and the reason (the refusal's
``error_code`` as the handlers noted it). A 404 is recorded on object routes only (a route
with an object's id in its address), so a mistyped address is not an audit event.

Every ``access.denied`` of a request, wherever it is recorded, carries the route's name in
``details.route`` (noted in ``process_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from apps.audit.actions import Action
from apps.audit.services import audit_denied, denial_recorded, denials_begin, denials_end, denials_note_route
from quill import request_context

# Address parameters that name an object, most specific first (an annotation lives in a document).
_OBJECT_PARAMETERS = ("annotation_id", "document_id", "letter_id", "patient_id", "user_id", "resource_id")
_DEFAULT_REASONS = {403: "permission_denied", 404: "not_found"}


class DenialAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        denials, refusals = denials_begin(), request_context.refusals_begin()
        try:
            response = self.get_response(request)
            if response.status_code in _DEFAULT_REASONS and not denial_recorded():
                _audit_unrecorded_refusal(request, response.status_code)
        finally:
            request_context.refusals_end(refusals)
            denials_end(denials)
        return response

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        if request.resolver_match is not None:
            denials_note_route(request.resolver_match.view_name)


def _audit_unrecorded_refusal(request: HttpRequest, status: int) -> None:
    user: Any = getattr(request, "user", None)
    match = request.resolver_match
    if user is None or not user.is_authenticated or match is None:
        return
    name = next((name for name in _OBJECT_PARAMETERS if name in match.kwargs), None)
    if name is None and status == 404:
        return
    object_type, object_id = "", ""
    if name is not None:
        # FHIR's reads name the resource type in the route (documentreference-read, patient-read).
        object_type = (match.url_name or "").split("-")[0] if name == "resource_id" else name.removesuffix("_id")
        object_id = str(match.kwargs[name])[:64]
    audit_denied(
        action=Action.ACCESS_DENIED,
        actor=user,
        reason=request_context.noted_refusal() or _DEFAULT_REASONS[status],
        object_type=object_type,
        object_id=object_id,
        details={"method": request.method, "status": status},
    )
