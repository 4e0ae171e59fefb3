"""Fixtures for the letters tests that need Django: document storage in a temp dir,
the EHRbase stand-in wired into settings, and letters written through the services.

Imports of Django code happen inside the fixtures, so the pure tests of this
folder can still run without Django (see docs/openehr.md).
"""

from __future__ import annotations

from datetime import date

import pytest

EHR_USER = "quill"
EHR_PASSWORD = "s3cret-ehr"


@pytest.fixture
def document_files(settings, tmp_path):
    """Filesystem document storage under a temp dir; documents upload without a scanner round trip."""
    files = tmp_path / "documents"
    files.mkdir()
    backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(files), "base_url": None, "file_permissions_mode": 0o600},
    }
    settings.QUILL_STORAGE = "filesystem"
    settings.QUILL_FILES_DIR = files
    settings.STORAGES = {
        "default": backend,
        "documents": backend,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return files


@pytest.fixture
def ehrbase(settings):
    """The EHRbase stand-in with quill_letter.v1 uploaded, and Quill configured to push to it."""
    from apps.letters.openehr.client import EhrbaseClient
    from apps.letters.openehr.template import load_letter_template

    from .openehr_server import FakeEhrbase

    with FakeEhrbase(username=EHR_USER, password=EHR_PASSWORD) as server:
        EhrbaseClient(server.base_url, username=EHR_USER, password=EHR_PASSWORD, timeout=2).upload_template(
            load_letter_template()
        )
        server.requests.clear()
        settings.QUILL_EHRBASE_URL = server.base_url
        settings.QUILL_EHRBASE_USERNAME = EHR_USER
        settings.QUILL_EHRBASE_PASSWORD = EHR_PASSWORD
        settings.QUILL_EHRBASE_SUBJECT_NAMESPACE = "quill-test"
        settings.QUILL_EHRBASE_TIMEOUT_SECONDS = 2.0
        settings.QUILL_OUTBOX_MAX_ATTEMPTS = 5
        yield server


@pytest.fixture
def no_ehrbase(settings):
    settings.QUILL_EHRBASE_URL = ""


@pytest.fixture
def draft(clinician, patient):
    from apps.letters.services import letter_create

    return letter_create(
        actor=clinician,
        patient=patient,
        recipient_name="Dr J Smith",
        recipient_role="General Practitioner",
        recipient_address="The Surgery\n2 High Street\nLondon",
        subject="Knee pain follow-up",
        body="# Assessment\nThe knee is improving.\n\n- Continue physiotherapy\n- Review in six weeks",
        clinical_date=date(2024, 5, 1),
    )


@pytest.fixture
def write_final(clinician, document_files):
    """Write and finalise a letter for a patient: `write_final(patient, subject=..., body=...)`."""
    from apps.letters.services import letter_create, letter_finalise

    def write(patient, **fields):
        values = {
            "recipient_name": "Dr J Smith",
            "subject": "Clinic letter",
            "body": "Seen in clinic today.",
            "clinical_date": date(2024, 5, 1),
            **fields,
        }
        letter = letter_create(actor=clinician, patient=patient, **values)
        return letter_finalise(actor=clinician, letter=letter)

    return write
