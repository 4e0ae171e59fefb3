"""Database round trips per API upload and download, pinned statement by statement.

Each statement is a round trip to PostgreSQL and, mostly, Django building it: on the small-upload
path they were the largest part of the worker's CPU (issue 21). The lists below are what an upload
and a download need; a statement added to either fails here and names itself. In these tests the
upload's transaction is a savepoint inside the test's own; in production the same two round trips
are its BEGIN and COMMIT.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.documents.models import Document, ScanStatus
from tests import factories
from tests.documents import samples

pytestmark = pytest.mark.django_db

TOKEN = "SELECT accounts_apitoken"
AUDIT_APPEND = "WITH audit_chainhead"  # lock the chain head, insert the event, move the head: one statement

UPLOAD = [
    TOKEN,  # token, user and organisation in one join
    "SELECT patients_patient",  # the patient, within the caller's organisation
    "SAVEPOINT",  # BEGIN
    "SELECT patients_patient FOR UPDATE",  # lock the record and read its last clinical date (retention)
    "INSERT documents_document",
    AUDIT_APPEND,
    "RELEASE SAVEPOINT",  # COMMIT
]
DOWNLOAD = [TOKEN, "SELECT documents_document", AUDIT_APPEND]


def _label(sql: str) -> str:
    """`VERB first_table[ FOR UPDATE]` for one statement."""
    verb = sql.split(None, 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE"):
        return "RELEASE SAVEPOINT" if verb == "RELEASE" else "SAVEPOINT"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
    label = f"{verb} {table.group(1) if table else '?'}"
    return label + (" FOR UPDATE" if verb == "SELECT" and sql.rstrip().endswith("FOR UPDATE") else "")


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [_label(query["sql"]) for query in captured.captured_queries]


def _upload(client, patient, n: int, **fields):
    body = {"file": SimpleUploadedFile("letter.pdf", samples.pdf(n)), "patient_id": str(patient.pk), "category": "lab"}
    return client.post("/api/documents/", {**body, **fields}, format="multipart")


def test_an_upload_is_seven_round_trips(filesystem_storage, clinician, patient):
    client = factories.token_client(clinician)
    # The first upload stamps the token's last use and sets the record's last clinical date (today).
    assert _upload(client, patient, 1).status_code == 201

    with CaptureQueriesContext(connection) as captured:
        response = _upload(client, patient, 2)

    assert response.status_code == 201, response.content
    assert _statements(captured) == UPLOAD
    for lookup in captured.captured_queries[:2]:  # token and patient: one row each, no ordering needed
        assert "ORDER BY" not in lookup["sql"]


def test_an_upload_with_a_later_clinical_date_adds_only_the_record_s_update(filesystem_storage, clinician, patient):
    client = factories.token_client(clinician)
    assert _upload(client, patient, 1, document_date="2020-01-01").status_code == 201

    with CaptureQueriesContext(connection) as captured:
        response = _upload(client, patient, 2, document_date="2021-01-01")

    assert response.status_code == 201, response.content
    statements = _statements(captured)
    lock = statements.index("SELECT patients_patient FOR UPDATE")
    assert statements[lock + 1] == "UPDATE patients_patient"  # the record's last clinical date moves on
    # then the rest of the record's retention is recomputed (that reads the record: it changes every row)
    assert Document.objects.filter(patient=patient, retain_until=date(2029, 1, 1)).count() == 2


def test_a_download_is_three_round_trips(filesystem_storage, clinician, patient):
    client = factories.token_client(clinician)
    data = samples.pdf(1)
    response = client.post(
        "/api/documents/",
        {"file": SimpleUploadedFile("letter.pdf", data), "patient_id": str(patient.pk), "category": "lab"},
        format="multipart",
    )
    assert response.status_code == 201
    document_id = response.json()["id"]
    Document.objects.filter(pk=document_id).update(scan_status=ScanStatus.CLEAN)

    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/documents/{document_id}/content")
        body = b"".join(response.streaming_content)

    assert response.status_code == 200 and body == data
    assert _statements(captured) == DOWNLOAD
