"""Plumbing shared by the documents API views: role check, upload handler, validation."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.request import Request

from apps.accounts.models import User
from apps.documents.errors import InvalidCategory, QuillErrorTooMany, RestrictedPatientDocument, UnknownPatient
from apps.files import errors as file_errors
from apps.files.upload_handler import HashingUploadHandler
from apps.patients.access import PatientAction
from apps.patients.selectors import patient_get_for
from quill.errors import NotFound, PermissionDenied
from quill.openapi import BODY_REFUSALS

# What finding a document can refuse with (selectors.document_get_for).
DOCUMENT_LOOKUP = (NotFound, PermissionDenied, RestrictedPatientDocument)
# What storing a file can refuse with (files.validation, the upload handler, storage).
FILE_REFUSALS = (
    file_errors.UploadRejected,
    file_errors.FileTooLarge,
    file_errors.UnsupportedType,
    file_errors.ExtensionMismatch,
    file_errors.EmptyFile,
    file_errors.CorruptFile,
    file_errors.EncryptedPdf,
    file_errors.ActiveContent,
    file_errors.ImageTooLarge,
    file_errors.MissingFile,
    file_errors.StorageUnavailable,
)
# A multipart upload: the fields, the patient, the role, and the file itself.
FORM_UPLOAD_REFUSALS = (
    *FILE_REFUSALS,
    *BODY_REFUSALS,
    InvalidCategory,
    UnknownPatient,
    QuillErrorTooMany,
    PermissionDenied,
)

if TYPE_CHECKING:
    # The mixin is only ever mixed into an APIView (before it), whose initial() it extends.
    from rest_framework.views import APIView as _MixinBase
else:
    _MixinBase = object


class HashingUploadMixin(_MixinBase):
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
    """`data` validated by `serializer_class`: what `serializer_class(data=data).is_valid(raise_exception=True)`
    gives (the same fields, checks and refusals), without building the serializer's fields for every request."""
    return _validator(serializer_class).run_validation(data)


@functools.cache
def _validator(serializer_class):
    # A serializer deep-copies its declared fields for every instance, which costs more than checking a
    # handful of values (issue 21). Validating keeps no state on the serializer or its fields, so one
    # instance per class, its fields built once, checks every request's data.
    serializer = serializer_class()
    serializer.fields  # noqa: B018 (build them once, now)
    return serializer
