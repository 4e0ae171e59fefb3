"""A Python client generated from /api/schema/ by openapi-python-client uploads, lists and downloads.

The client is generated from the live server's schema into the test's own folder and imported
from there, as an integrator would (docs/api.md, "Generating a client").
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import subprocess
import sys
import time
from io import BytesIO
from uuid import UUID

import pytest
import requests

from tests.api.conftest import IDS, TOKENS
from tests.documents import samples

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Quill sends a document in its own media type; the generated client reads each as bytes.
CLIENT_CONFIG = """\
post_hooks: []
project_name_override: quill_client
package_name_override: quill_client
content_type_overrides:
  application/pdf: application/octet-stream
  image/jpeg: application/octet-stream
  image/png: application/octet-stream
  image/tiff: application/octet-stream
  application/dicom: application/octet-stream
"""


@pytest.fixture
def quill_client(live_quill, tmp_path):
    """The `quill_client` package generated from the live schema, imported; forgotten afterwards."""
    schema_path = tmp_path / "schema.json"
    schema_path.write_bytes(requests.get(f"{live_quill.base_url}/api/schema/?format=json", timeout=30).content)
    config_path = tmp_path / "client.yaml"
    config_path.write_text(CLIENT_CONFIG)
    output = tmp_path / "generated" / "quill_client"
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema_path),
         "--output-path", str(output), "--meta", "none", "--config", str(config_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    sys.path.insert(0, str(output.parent))
    try:
        yield importlib.import_module("quill_client")
    finally:
        sys.path.remove(str(output.parent))
        for name in [name for name in sys.modules if name == "quill_client" or name.startswith("quill_client.")]:
            del sys.modules[name]


def _repr_digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def _when_scanned(client, document_id: UUID) -> None:
    """Documents are served once the virus scan (the worker, clamd) has passed them."""
    from quill_client.api.documents import documents_retrieve

    deadline = time.monotonic() + 90
    while True:
        document = documents_retrieve.sync(client=client, document_id=document_id)
        if document.scan_status.value == "clean":
            return
        assert time.monotonic() < deadline, f"not scanned in time: {document.scan_status}"
        time.sleep(0.5)


def test_generated_client_uploads_lists_and_downloads(live_quill, quill_client):
    from quill_client import AuthenticatedClient
    from quill_client.api.documents import (
        documents_content_retrieve,
        documents_create,
        documents_list,
        documents_upload_create,
    )
    from quill_client.models import (
        CategoryEnum,
        Document,
        DocumentsUploadCreateCategory,
        PaginatedDocumentList,
        UploadFormRequest,
    )
    from quill_client.types import File

    # given a client for a clinician of the organisation
    client = AuthenticatedClient(base_url=live_quill.base_url, token=TOKENS["clinician"], prefix="Token")
    patient_id = UUID(IDS["patient"])
    form_pdf = samples.pdf(title="Referral letter")
    body_png = samples.png()

    # when it uploads one file as a form and another as the request body, with its digest
    by_form = documents_create.sync(
        client=client,
        body=UploadFormRequest(
            patient_id=patient_id,
            category=CategoryEnum.REFERRAL,
            title="Referral",
            file=File(payload=BytesIO(form_pdf), file_name="referral.pdf", mime_type="application/pdf"),
        ),
    )
    digest = _repr_digest(body_png)
    by_body = documents_upload_create.sync(
        client=client,
        body=File(payload=BytesIO(body_png), file_name="wound.png", mime_type="image/png"),
        patient_id=patient_id,
        category=DocumentsUploadCreateCategory.PHOTO,
        filename="wound.png",
        repr_digest=digest,
    )

    # then both are stored, listed for the patient, and download as the bytes sent
    assert isinstance(by_form, Document), by_form
    assert isinstance(by_body, Document), by_body
    assert (by_form.content_type, by_body.content_type) == ("application/pdf", "image/png")
    listed = documents_list.sync(client=client, patient_id=patient_id, page_size=200)
    assert isinstance(listed, PaginatedDocumentList)
    assert {by_form.id, by_body.id} <= {document.id for document in listed.results}
    for document, sent in ((by_form, form_pdf), (by_body, body_png)):
        _when_scanned(client, document.id)
        downloaded = documents_content_retrieve.sync_detailed(client=client, document_id=document.id)
        assert downloaded.status_code == 200
        assert downloaded.headers["content-type"] == document.content_type
        assert downloaded.parsed.payload.read() == sent
        assert (
            downloaded.headers["repr-digest"]
            == "sha-256=:" + base64.b64encode(hashlib.sha256(sent).digest()).decode() + ":"
        )
