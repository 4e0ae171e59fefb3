"""Encryption at rest, proven on SeaweedFS's own disk.

A document carrying a unique marker is stored through Quill, with its thumbnail and a
rendered page; then every raw file under SeaweedFS's data folder (volume .dat files,
the filer's LevelDB) is searched for the marker and for the renditions' bytes. With
SSE-S3 none is there; the same test without SSE finds every one, so the search works.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from apps.documents.services.pages import PageSize, document_page_rendition
from apps.documents.tasks import make_document_thumbnail
from apps.files import storage
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.test_settings import GOOD_PRODUCTION

NEEDLE_BYTES = 48  # a window of a rendition's bytes: long enough never to occur by chance


def _files_holding(data_dir: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """For each named needle, the files under `data_dir` whose raw bytes contain it."""
    found: dict[str, list[str]] = {name: [] for name in needles}
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        for name, needle in needles.items():
            if needle in raw:
                found[name].append(str(path.relative_to(data_dir)))
    return found


def _middle(data: bytes) -> bytes:
    start = len(data) // 2
    return data[start : start + NEEDLE_BYTES]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sse", "in_the_clear"),
    [pytest.param("AES256", False, id="sse-s3"), pytest.param("", True, id="no-sse-control")],
)
def test_document_and_renditions_are_not_on_the_volume_disk_in_the_clear(
    s3_storage, settings, clinician, patient, sse, in_the_clear
):
    # given Quill writing with or without SSE-S3, and a PDF whose bytes carry a unique marker
    settings.QUILL_S3_SSE = sse
    marker = f"QUILL-AT-REST-{secrets.token_hex(12)}".encode()
    data = samples.pdf(2, title=marker.decode())
    assert marker in data
    # when it is stored, and its thumbnail and a page preview are made
    document = stored_document(user=clinician, patient=patient, data=data, filename="letter.pdf")
    assert make_document_thumbnail(str(document.pk)) == "made"
    document.refresh_from_db()
    page = document_page_rendition(document=document, page=1, size=PageSize.THUMB)
    page_key = next(key for key, _, _ in storage.list_keys(storage.renditions_prefix(document.storage_key)))
    # then Quill reads every object back in the clear, and S3 says how each is stored
    objects = {"original": document.storage_key, "thumbnail": document.thumbnail_key, "page": page_key}
    plaintext = {name: storage.read_bytes(key) for name, key in objects.items()}
    assert plaintext["original"] == data
    assert plaintext["page"] == page.data
    client = s3_storage.client()
    for key in objects.values():
        head = client.head_object(Bucket=s3_storage.bucket, Key=key)
        assert head.get("ServerSideEncryption") == (sse or None), key
    # and the disk holds the plaintext only without SSE
    needles = {
        "marker": marker,
        # the original's own bytes around the marker: the rest of a generated PDF is the same as other
        # tests' PDFs stored unencrypted on this session's server, and would be found in theirs
        "original": data[max(0, data.index(marker) - NEEDLE_BYTES) : data.index(marker) + len(marker)],
        "thumbnail": _middle(plaintext["thumbnail"]),
        "page": _middle(plaintext["page"]),
    }
    found = _files_holding(s3_storage.data_dir, needles)
    if in_the_clear:
        assert all(found.values()), f"the search missed unencrypted bytes: {found}"
    else:
        assert found == {name: [] for name in needles}


def test_the_key_encryption_key_is_not_kept_on_the_data_disk(s3_server):
    # The key that unwraps every object's data key comes from the environment (a secret
    # in compose and Kubernetes): a stolen data disk holds only ciphertext and wrapped keys.
    kek = s3_server.sse_kek
    found = _files_holding(s3_server.data_dir, {"hex": kek.encode(), "raw": bytes.fromhex(kek)})
    assert found == {"hex": [], "raw": []}
    assert not (s3_server.data_dir / ".mini_sse_kek").exists()


def _settings_value(environment: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(QUILL_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="quill.settings", **environment)
    script = "import django.conf as c; print(repr(c.settings.QUILL_S3_SSE))"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = GOOD_PRODUCTION  # a production environment that starts (tests/test_settings.py)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        pytest.param(PRODUCTION, "'AES256'", id="production-default-on"),
        pytest.param({**PRODUCTION, "QUILL_S3_SSE": ""}, "'AES256'", id="production-empty-is-default"),
        pytest.param({**PRODUCTION, "QUILL_S3_SSE": "none"}, "''", id="production-explicitly-off"),
        pytest.param({}, "''", id="development-default-off"),
        pytest.param({"QUILL_S3_SSE": "AES256"}, "'AES256'", id="development-on"),
    ],
)
def test_sse_s3_is_on_by_default_in_production(environment, expected, tmp_path):
    result = _settings_value(environment, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_an_unknown_sse_mode_stops_start_up(tmp_path):
    result = _settings_value({"QUILL_S3_SSE": "aes-256"}, tmp_path)
    assert result.returncode != 0
    assert "QUILL_S3_SSE must be AES256 (SSE-S3), aws:kms or none, not 'aes-256'" in result.stderr
