"""Reading an ITI-65 Bundle from a stream: documents spooled as they arrive, the rest parsed."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest

from apps.fhir.bundle_stream import MAX_METADATA_BYTES, SPILL_THRESHOLD, read_bundle
from apps.fhir.errors import ProvideBundleInvalid, ProvideBundleTooLarge
from apps.files.errors import FileTooLarge

DOCUMENT = os.urandom(3 * SPILL_THRESHOLD + 5)


def _body(data_text: str, *, extra: str = "") -> bytes:
    return (
        '{"resourceType": "Bundle", "type": "transaction", "entry": ['
        '{"fullUrl": "urn:uuid:a", "resource": {"resourceType": "List", "title": "x\\"y"}},'
        '{"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Binary", "contentType": "application/pdf", '
        f'"data": "{data_text}"}}}}{extra}]}}'
    ).encode()


def _chunks(body: bytes, size: int):
    return (body[start : start + size] for start in range(0, len(body), size))


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 10**7], ids=lambda size: f"chunks-of-{size}")
def test_a_long_base64_string_is_spooled_and_replaced_by_a_placeholder(tmp_path, chunk_size):
    # JSON may escape "/" and wrap base64 with escaped newlines; both are read through.
    text = base64.encodebytes(DOCUMENT).decode().replace("\n", "\\n").replace("/", "\\/")

    read = read_bundle(_chunks(_body(text), chunk_size), max_document_bytes=10**6, tmp_dir=str(tmp_path))

    binary = read.resource["entry"][1]["resource"]
    spill = read.spill_for(binary["data"])
    assert spill is not None and spill.entry == 1
    assert spill.spooled.sha256 == hashlib.sha256(DOCUMENT).hexdigest()
    assert read.resource["entry"][0]["resource"]["title"] == 'x"y'
    read.discard()
    assert os.listdir(tmp_path) == []


def test_a_short_string_stays_in_the_json():
    read = read_bundle(iter([_body("JVBERi0=")]), max_document_bytes=10**6)

    assert read.resource["entry"][1]["resource"]["data"] == "JVBERi0="
    assert read.spills == {}


def test_a_forged_placeholder_names_no_spill():
    read = read_bundle(iter([_body("\\u0000deadbeefdeadbeef:0")]), max_document_bytes=10**6)

    assert read.spill_for(read.resource["entry"][1]["resource"]["data"]) is None


@pytest.mark.parametrize(
    "text",
    [
        "!" * (SPILL_THRESHOLD + 4),
        base64.b64encode(DOCUMENT[:-1]).decode() + "AAAA",  # data after the padding
        "QQ==" + "A" * (SPILL_THRESHOLD + 4),  # padding inside
        base64.b64encode(DOCUMENT).decode() + "A",  # not a multiple of 4
        base64.b64encode(DOCUMENT).decode()[:-8] + "\\u0041AAA",  # an escape base64 never needs
    ],
    ids=["not-base64", "after-padding", "padding-inside", "truncated", "unicode-escape"],
)
def test_text_that_is_not_base64_is_refused_and_nothing_is_left(tmp_path, text):
    with pytest.raises(ProvideBundleInvalid):
        read_bundle(iter([_body(text)]), max_document_bytes=10**6, tmp_dir=str(tmp_path))

    assert os.listdir(tmp_path) == []


def test_a_document_over_the_limit_is_refused_naming_its_entry(tmp_path):
    with pytest.raises(FileTooLarge) as refusal:
        read_bundle(iter([_body(base64.b64encode(DOCUMENT).decode())]), max_document_bytes=1000, tmp_dir=str(tmp_path))

    assert refusal.value.data["entry"] == 1
    assert "Bundle.entry[1]" in refusal.value.message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "body",
    [b'{"resourceType": "Bundle", "entry": [', b"[1, 2]", b'{"a": 1}}', b"not json"],
    ids=["cut-short", "not-an-object", "unbalanced", "not-json"],
)
def test_a_body_that_is_not_a_json_object_is_refused(body):
    with pytest.raises(ProvideBundleInvalid):
        read_bundle(iter([body]), max_document_bytes=10**6)


def test_metadata_over_its_limit_is_refused():
    # Many short strings are metadata, not documents: they count against the metadata limit.
    entries = ",".join(json.dumps({"fullUrl": "x" * 1000}) for _ in range(MAX_METADATA_BYTES // 1000 + 10))

    with pytest.raises(ProvideBundleTooLarge):
        read_bundle(iter([f'{{"entry": [{entries}]}}'.encode()]), max_document_bytes=10**6)
