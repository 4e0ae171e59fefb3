"""docker/seaweedfs/start.sh hands SeaweedFS the SSE-S3 key-encryption key, and refuses a bad one."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "docker" / "seaweedfs" / "start.sh"


def _start(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    # A stand-in for `weed` that prints what it was given, so no server starts.
    fake_weed = tmp_path / "weed"
    fake_weed.write_text('#!/bin/sh\necho "kek=${WEED_S3_SSE_KEK:-} plain=${S3_SSE_KEK:-}"\n')
    fake_weed.chmod(0o700)
    env = {
        "PATH": "/usr/bin:/bin",
        "WEED": str(fake_weed),
        "S3_ACCESS_KEY_ID": "quill",
        "S3_SECRET_ACCESS_KEY": "secret",
        "S3_CONFIG_DIR": str(tmp_path / "config"),
        "S3_DATA_DIR": str(tmp_path / "data"),
        **environment,
    }
    return subprocess.run(["/bin/sh", str(START)], env=env, capture_output=True, text=True, timeout=30)


def test_the_key_reaches_weed_from_the_environment(tmp_path):
    kek = secrets.token_hex(32)
    result = _start(tmp_path, S3_SSE_KEK=kek)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kek={kek} plain="


def test_the_key_reaches_weed_from_a_file(tmp_path):
    kek = secrets.token_hex(32)
    (tmp_path / "kek").write_text(kek + "\n")
    result = _start(tmp_path, S3_SSE_KEK_FILE=str(tmp_path / "kek"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kek={kek} plain="


@pytest.mark.parametrize(
    "kek",
    [
        pytest.param("", id="missing"),
        pytest.param("ab" * 16, id="too-short"),
        pytest.param("AB" * 32, id="upper-case"),
        pytest.param("zz" * 32, id="not-hex"),
    ],
)
def test_a_missing_or_malformed_key_stops_the_start(tmp_path, kek):
    result = _start(tmp_path, S3_SSE_KEK=kek)
    assert result.returncode != 0
    assert "S3_SSE_KEK" in result.stderr
    assert "kek=" not in result.stdout
