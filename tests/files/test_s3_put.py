"""Small S3 PUTs go without `Expect: 100-continue`; larger ones keep it (issue 21)."""

from __future__ import annotations

import hashlib

import pytest

from apps.files import storage


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
