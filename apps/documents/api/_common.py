"""Plumbing shared by the documents API views: role check, upload handler, validation."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request

from apps.accounts.models import User
from apps.audit.actions import Action
from apps.audit.services import audit_denied
from apps.documents.errors import UnknownPatient
from apps.documents.permissions import allowed_categories
from apps.files.upload_handler import HashingUploadHandler
from apps.patients.access import PatientAction
from apps.patients.selectors import patient_get_for
from quill.errors import NotFound, PermissionDenied


def _ensure_document_role(user: User) -> None:
    if allowed_categories(user) == frozenset():
        audit_denied(action=Action.ACCESS_DENIED, actor=user, reason="role", object_type="document")
        raise PermissionDenied("Your role does not allow working with documents.")


class HashingUploadMixin:
    """Swap in the hashing upload handler before DRF (or CSRF) parses the body."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        if request.method in ("POST", "PUT"):
            request._request.upload_handlers = [
                HashingUploadHandler(request._request, tmp_dir=settings.FILE_UPLOAD_TEMP_DIR)
            ]
        super().initial(request, *args, **kwargs)

    def uploaded_files(self, request: Request, field: str = "file") -> list:
        files = request.FILES.getlist(field)
        handler = request._request.upload_handlers[0]
        if isinstance(handler, HashingUploadHandler):
            handler.raise_for_refusal()
        return files


def _upload_patient(user: User, patient_id):
    try:
        return patient_get_for(user=user, patient_id=patient_id, action=PatientAction.VIEW)
    except NotFound as exc:
        raise UnknownPatient() from exc


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
