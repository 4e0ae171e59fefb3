"""Storage and pipeline fixtures for every test folder: filesystem storage and real SeaweedFS S3."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from quill.celery import app as celery_app
from quill.s3 import s3_client_config


def s3_settings(s3) -> dict:
    options = {
        "bucket_name": s3.bucket,
        "endpoint_url": s3.endpoint_url,
        "region_name": s3.region,
        "access_key": s3.access_key,
        "secret_key": s3.secret_key,
        "addressing_style": "path",
        "signature_version": "s3v4",
        "client_config": s3_client_config(addressing_style="path"),
        "querystring_expire": 3600,
        "default_acl": None,
        "file_overwrite": False,
    }
    entry = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {"QUILL_STORAGE": "s3", "STORAGES": {**django_settings.STORAGES, "default": entry, "documents": entry}}


def filesystem_settings(folder) -> dict:
    entry = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder), "base_url": None, "file_permissions_mode": 0o600},
    }
    return {
        "QUILL_STORAGE": "filesystem",
        "QUILL_FILES_DIR": folder,
        "STORAGES": {**django_settings.STORAGES, "default": entry, "documents": entry},
    }


@pytest.fixture
def filesystem_storage(settings, tmp_path):
    for name, value in filesystem_settings(tmp_path / "documents").items():
        setattr(settings, name, value)
    return tmp_path / "documents"


@pytest.fixture
def s3_storage(settings, s3_server):
    for name, value in s3_settings(s3_server).items():
        setattr(settings, name, value)
    return s3_server


@pytest.fixture(params=["filesystem", "s3"])
def any_storage(request, settings, tmp_path):
    """Run the test once on the private folder and once on SeaweedFS."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        values = s3_settings(server)
    else:
        values = filesystem_settings(tmp_path / "documents")
    for name, value in values.items():
        setattr(settings, name, value)
    return request.param


@pytest.fixture
def upload_tmp(settings, tmp_path):
    """Uploads spool into a folder of the test's own, so a test can check nothing is left there."""
    folder = tmp_path / "upload-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def scanner(settings, clamd_server):
    settings.QUILL_SCANNER = "clamd"
    settings.QUILL_CLAMD_SOCKET = str(clamd_server.socket_path)
    return clamd_server


@pytest.fixture(autouse=True)
def _ocr_off_unless_asked(settings):
    """OCR costs a second or more a page: only tests that ask for it (`ocr`) run Tesseract; the
    others still read PDF text layers, and images they upload end `failed` with `ocr_unavailable`."""
    settings.QUILL_OCR = "none"


@pytest.fixture
def ocr(settings):
    """Real OCRmyPDF and Tesseract (English), with the limits small files need."""
    settings.QUILL_OCR = "tesseract"
    settings.QUILL_OCR_LANGUAGES = "eng"
    settings.QUILL_OCR_PAGE_TIMEOUT_SECONDS = 60.0
    settings.QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS = 120.0
    settings.QUILL_TEXT_MAX_PAGES = 20


@pytest.fixture
def eager_celery():
    """Run queued tasks inline (for tests that follow the pipeline without a worker process)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous
