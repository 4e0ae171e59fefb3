"""Small S3 PUTs go without `Expect: 100-continue`; larger ones keep it (issue 21)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from apps.files import storage
from apps.files.errors import StorageUnavailable
from quill.s3 import s3_client_config
from tests.services.storage import s3_settings


def _put_and_capture(tmp_path, size: int) -> tuple[dict[str, str], bytes]:
    data = bytes(range(256)) * (size // 256)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    client, _ = storage._s3_client_and_bucket()
    sent: dict[str, str] = {}

    def capture(request, **kwargs):
        sent.update(
            (name, value.decode() if isinstance(value, bytes) else value) for name, value in request.headers.items()
        )

    client.meta.events.register("before-send.s3.PutObject", capture)
    try:
        storage.put_file(key=f"t/{size}.bin", path=str(path), sha256=hashlib.sha256(data).hexdigest(),
                         content_type="application/octet-stream")  # fmt: skip
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", capture)
    return sent, data


@pytest.mark.parametrize(
    ("size", "expect"),
    [(50 * 1024, False), (storage.EXPECT_CONTINUE_FROM, True)],
    ids=["50-KiB-without", "1-MiB-with"],
)
def test_expect_continue_only_from_the_threshold(s3_storage, tmp_path, size, expect):
    sent, data = _put_and_capture(tmp_path, size)

    assert ("Expect" in sent) is expect
    assert sent["x-amz-meta-sha256"] == hashlib.sha256(data).hexdigest()
    assert any(name.lower().startswith("x-amz-checksum-") for name in sent)  # the store checks the body
    assert b"".join(storage.open_range(f"t/{size}.bin")) == data


def test_a_put_carries_its_sha256_and_botocore_does_not_hash_the_body_again(s3_storage, tmp_path):
    sent, data = _put_and_capture(tmp_path, 50 * 1024)
    digest = hashlib.sha256(data).digest()

    assert sent["x-amz-checksum-sha256"] == base64.b64encode(digest).decode()  # the store checks the bytes against it
    assert sent["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"  # not a second hash of the body
    assert "x-amz-checksum-sha256" in sent["Authorization"]  # the digest itself is signed
    head = s3_storage.client().head_object(Bucket=s3_storage.bucket, Key="t/51200.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()


def test_a_put_whose_bytes_do_not_match_the_digest_is_refused_and_leaves_nothing(s3_storage, tmp_path):
    path = tmp_path / "body.bin"
    path.write_bytes(b"the bytes that arrived")

    with pytest.raises(StorageUnavailable):
        storage.put_file(key="t/mismatch.bin", path=str(path), sha256=hashlib.sha256(b"other bytes").hexdigest(),
                         content_type="application/octet-stream")  # fmt: skip

    assert not storage.exists("t/mismatch.bin")


def test_a_put_without_a_digest_still_signs_its_payload(s3_storage):
    client, _ = storage._s3_client_and_bucket()
    sent: dict[str, str] = {}
    capture = lambda request, **kwargs: sent.update(request.headers.items())  # noqa: E731
    client.meta.events.register("before-send.s3.PutObject", capture)
    try:
        storage.put_bytes(key="t/derived.webp", data=b"a derived object", content_type="image/webp")
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", capture)

    signed = sent["X-Amz-Content-SHA256"]
    assert (signed.decode() if isinstance(signed, bytes) else signed) == hashlib.sha256(b"a derived object").hexdigest()


def test_over_tls_the_digest_goes_in_a_header_not_a_trailer_and_the_body_is_not_hashed(
    settings, s3_tls_server, pki, tmp_path
):
    values = s3_settings(s3_tls_server)
    entry = values["STORAGES"]["documents"]
    entry["OPTIONS"]["verify"] = str(pki.ca_file)
    entry["OPTIONS"]["client_config"] = s3_client_config(addressing_style="path", client_cert=s3_tls_server.client_cert)
    for name, value in values.items():
        setattr(settings, name, value)

    sent, data = _put_and_capture(tmp_path, 50 * 1024)

    assert sent["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert sent["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert "Content-Encoding" not in sent  # no aws-chunked body with a checksum trailer
    assert b"".join(storage.open_range("t/51200.bin")) == data
