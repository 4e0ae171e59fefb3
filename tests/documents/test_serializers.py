"""DocumentSerializer: the shared-field fast path answers exactly what DRF's own path does."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from apps.accounts.models import User
from apps.documents.models import Document
from apps.documents.serializers import DocumentSerializer

UPLOADER = User(id=7, full_name="Dr Ada Lovelace")


def _document(**fields) -> Document:
    values = {
        "id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "title": "Full blood count",
        "category": "lab",
        "original_filename": "fbc.pdf",
        "content_type": "application/pdf",
        "size": 51200,
        "sha256": "ab" * 32,
        "document_date": date(2026, 3, 1),
        "uploaded_at": datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=timezone.get_current_timezone()),
        "uploaded_by": UPLOADER,
        "lineage_id": uuid.uuid4(),
    }
    values.update(fields)
    return Document(**values)


def _drf_representation(document: Document) -> dict:
    # A serializer with a context takes DRF's own path, building its fields afresh.
    return serializers.ModelSerializer.to_representation(DocumentSerializer(context={"fresh": True}), document)


DOCUMENTS = {
    "new-upload": lambda: _document(),
    "deleted": lambda: _document(deleted_at=timezone.now(), deleted_reason="Wrong patient", scan_status="clean"),
    "version-on-hold": lambda: _document(
        version_number=2,
        supersedes_id=uuid.uuid4(),
        retain_until=date(2040, 1, 1),
        legal_hold=True,
        integrity="corrupt",
        encounter_id="ENC-1",
    ),
    "other-uploader-last-year": lambda: _document(
        uploaded_by=User(id=8, full_name="Nurse B"), uploaded_at=timezone.now() - timedelta(days=400)
    ),
}


@pytest.mark.parametrize("make", DOCUMENTS.values(), ids=DOCUMENTS.keys())
def test_shared_fields_represent_a_document_as_drf_does(make):
    document = make()
    assert DocumentSerializer(document).data == _drf_representation(document)


def test_shared_fields_represent_a_list_as_drf_does():
    documents = [make() for make in DOCUMENTS.values()]
    assert DocumentSerializer(documents, many=True).data == [_drf_representation(d) for d in documents]


def test_representation_shape_is_unchanged():
    document = _document()
    data = DocumentSerializer(document).data
    assert list(data) == DocumentSerializer.Meta.fields
    assert data["id"] == str(document.id)
    assert data["uploaded_by"] == {"id": 7, "name": "Dr Ada Lovelace"}
    assert data["supersedes_id"] is None
