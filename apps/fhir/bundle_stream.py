"""Read an ITI-65 transaction Bundle from a stream without holding its documents in memory.

A Provide Document Bundle carries each document as base64 inside JSON (``Binary.data`` or
``attachment.data``), so a 100 MiB bundle is one JSON text of 100 MiB. ``json.loads``
would hold it whole, and the decoded bytes once more. Instead this reader makes one pass
over the body: every JSON string longer than ``SPILL_THRESHOLD`` is base64-decoded as it
arrives into a spooled temp file (``apps.files.spooling.Spooler``: hashed, size-limited)
and replaced in the text by a placeholder; what remains is the bundle's metadata, small
enough for ``json.loads``. No JSON library is needed for the pass: outside strings only
the structural characters matter, and inside a string only ``"`` and ``\\``.

The placeholders carry a random token per bundle, so a submitter cannot forge one.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apps.files.errors import FileTooLarge
from apps.files.spooling import CHUNK_SIZE, SpooledFile, Spooler

from .errors import ProvideBundleInvalid, ProvideBundleTooLarge

# Strings longer than this are document content: decoded to disk, never kept as text.
SPILL_THRESHOLD = 16 * 1024
# The bundle without its documents: resources, identifiers, codes. Far below this in practice.
MAX_METADATA_BYTES = 8 * 1024 * 1024

_STRUCTURAL = re.compile(rb'["{}\[\],:]')
_WHITESPACE = b" \t\r\n"
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# JSON escapes that may appear inside base64 text: an escaped solidus and line wrapping.
_BASE64_ESCAPES = {ord("/"): b"/", ord("n"): b"", ord("r"): b"", ord("t"): b""}


@dataclass
class Spill:
    """One long string, decoded from base64 into a temp file; ``entry`` is its Bundle.entry index."""

    entry: int | None
    spooled: SpooledFile


@dataclass
class ReadBundle:
    """The bundle's JSON with documents replaced by placeholders, and the spooled documents."""

    resource: dict[str, Any]
    spills: dict[str, Spill]
    token: str
    max_document_bytes: int = 0
    tmp_dir: str | None = None

    def spill_for(self, value: Any) -> Spill | None:
        """The spill a placeholder string names, or None for any other value."""
        if isinstance(value, str) and value.startswith(f"\x00{self.token}:"):
            return self.spills.get(value)
        return None

    def discard(self) -> None:
        for spill in self.spills.values():
            spill.spooled.discard()


@dataclass
class _Level:
    """One open container: an object (with the key being read) or an array (with its index)."""

    kind: str
    key: str | None = None
    index: int = 0


class _Base64Sink:
    """Base64 text in, decoded bytes out to a Spooler, in step with the input."""

    def __init__(self, spooler: Spooler) -> None:
        self.spooler = spooler
        self._pending = b""
        self._finished = False

    def feed(self, text: bytes) -> None:
        text = text.translate(None, _WHITESPACE)
        if not text:
            return
        if self._finished:
            raise binascii.Error("data after the base64 padding")
        if text.translate(None, _BASE64_ALPHABET):
            raise binascii.Error("a character outside the base64 alphabet")
        data = self._pending + text if self._pending else text
        usable = len(data) - len(data) % 4
        if usable:
            quanta = data[:usable]
            # "=" only pads the last quantum; the alphabet was checked above, so the fast decoder is exact.
            padding = quanta.find(b"=")
            if padding != -1 and padding < usable - 2:
                raise binascii.Error("padding inside the base64 text")
            self.spooler.write(binascii.a2b_base64(quanta))
            self._finished = padding != -1
        self._pending = data[usable:]

    def finish(self) -> SpooledFile:
        if self._pending:
            raise binascii.Error("base64 text whose length is not a multiple of 4")
        return self.spooler.finish()


@dataclass
class _Reader:
    max_document_bytes: int
    tmp_dir: str | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    metadata: bytearray = field(default_factory=bytearray)
    spills: dict[str, Spill] = field(default_factory=dict)
    stack: list[_Level] = field(default_factory=list)
    in_string: bool = False
    escaped: bool = False
    string: bytearray = field(default_factory=bytearray)
    sink: _Base64Sink | None = None
    last_string: str | None = None

    # -- where we are --

    def entry_index(self) -> int | None:
        """Which Bundle.entry the reader is in (``{"entry": [ {…}, … ]}`` at the top level)."""
        if len(self.stack) >= 2 and self.stack[0].key == "entry" and self.stack[1].kind == "array":
            return self.stack[1].index
        return None

    # -- outside strings --

    def outside(self, buffer: bytes, position: int) -> int:
        match = _STRUCTURAL.search(buffer, position)
        if match is None:
            self._keep(buffer[position:])
            return len(buffer)
        char = match.group()
        self._keep(buffer[position : match.start()])
        if char == b'"':
            self.in_string, self.string = True, bytearray()
            return match.end()
        self._keep(char)
        if char in (b"{", b"["):
            self.stack.append(_Level("object" if char == b"{" else "array"))
        elif char in (b"}", b"]"):
            if not self.stack:
                raise ProvideBundleInvalid("The body is not a JSON object: a bracket closes that was never opened.")
            self.stack.pop()
        elif char == b":" and self.stack and self.stack[-1].kind == "object":
            self.stack[-1].key = self.last_string
        elif char == b"," and self.stack and self.stack[-1].kind == "array":
            self.stack[-1].index += 1
        return match.end()

    # -- inside strings --

    def inside(self, buffer: bytes, position: int) -> int:
        if self.escaped:
            return self._escape(buffer, position)
        # bytes.find is memchr: far faster than a regular expression over megabytes of base64.
        quote, backslash = buffer.find(b'"', position), buffer.find(b"\\", position)
        end = min(index for index in (quote, backslash, len(buffer)) if index != -1)
        self._text(buffer[position:end])
        if end == len(buffer):
            return end
        if end == backslash:
            self.escaped = True
            return end + 1
        self._close_string()
        return end + 1

    def _escape(self, buffer: bytes, position: int) -> int:
        self.escaped = False
        char = buffer[position]
        if self.sink is None:
            self.string += b"\\" + bytes([char])
            self._check_spill()
        elif char in _BASE64_ESCAPES:
            self._feed(_BASE64_ESCAPES[char])
        else:
            raise ProvideBundleInvalid(
                "A long text in the bundle is not base64 document content; document data must be base64.",
                entry=self.entry_index(),
            )
        return position + 1

    def _text(self, text: bytes) -> None:
        if not text:
            return
        if self.sink is not None:
            self._feed(text)
            return
        self.string += text
        self._check_spill()

    def _check_spill(self) -> None:
        if len(self.string) <= SPILL_THRESHOLD:
            return
        self.sink = _Base64Sink(Spooler(max_bytes=self.max_document_bytes, tmp_dir=self.tmp_dir))
        pending, self.string = bytes(self.string), bytearray()
        if b"\\" in pending:
            for escape, replacement in ((b"\\/", b"/"), (b"\\n", b""), (b"\\r", b""), (b"\\t", b"")):
                pending = pending.replace(escape, replacement)
        if b"\\" in pending:
            raise ProvideBundleInvalid(
                "A long text in the bundle is not base64 document content; document data must be base64.",
                entry=self.entry_index(),
            )
        self._feed(pending)

    def _feed(self, text: bytes) -> None:
        assert self.sink is not None
        try:
            self.sink.feed(text)
        except binascii.Error as exc:
            raise ProvideBundleInvalid(
                f"Document data in the bundle is not valid base64 ({exc}).", entry=self.entry_index()
            ) from exc
        except FileTooLarge as exc:
            raise named_too_large(exc, self.entry_index()) from exc

    def _close_string(self) -> None:
        self.in_string = False
        if self.sink is None:
            self.last_string = self.string.decode("utf-8", errors="replace") if len(self.string) < 256 else None
            self._keep(b'"' + bytes(self.string) + b'"')
            return
        try:
            spooled = self.sink.finish()
        except binascii.Error as exc:
            raise ProvideBundleInvalid(
                f"Document data in the bundle is not valid base64 ({exc}).", entry=self.entry_index()
            ) from exc
        placeholder = f"\x00{self.token}:{len(self.spills)}"
        self.spills[placeholder] = Spill(entry=self.entry_index(), spooled=spooled)
        self.sink, self.last_string = None, None
        self._keep(b'"\\u0000' + f"{self.token}:{len(self.spills) - 1}".encode() + b'"')

    def _keep(self, text: bytes) -> None:
        self.metadata += text
        if len(self.metadata) > MAX_METADATA_BYTES:
            raise ProvideBundleTooLarge()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.spooler.abort()
        for spill in self.spills.values():
            spill.spooled.discard()


def read_bundle(chunks: Iterator[bytes], *, max_document_bytes: int, tmp_dir: str | None = None) -> ReadBundle:
    """One pass over the body: documents spooled and replaced by placeholders, the rest parsed.

    Raises ``ProvideBundleInvalid`` (not JSON, bad base64), ``ProvideBundleTooLarge`` (the
    metadata alone is too big) or ``FileTooLarge`` (one document is over the upload limit);
    every temp file is removed before it raises.
    """
    import json

    reader = _Reader(max_document_bytes=max_document_bytes, tmp_dir=tmp_dir)
    try:
        for buffer in chunks:
            position = 0
            while position < len(buffer):
                position = (reader.inside if reader.in_string else reader.outside)(buffer, position)
        if reader.in_string or reader.stack:
            raise ProvideBundleInvalid("The body ends in the middle of the JSON text.")
        try:
            resource = json.loads(bytes(reader.metadata))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProvideBundleInvalid(f"The body is not valid JSON: {exc}.") from exc
        if not isinstance(resource, dict):
            raise ProvideBundleInvalid("The body must be a JSON object (a FHIR Bundle).")
        return ReadBundle(
            resource=resource,
            spills=reader.spills,
            token=reader.token,
            max_document_bytes=max_document_bytes,
            tmp_dir=tmp_dir,
        )
    except BaseException:
        reader.abort()
        raise


def named_too_large(error: FileTooLarge, entry: int | None) -> FileTooLarge:
    """The upload limit's refusal, naming the bundle entry that broke it."""
    named = FileTooLarge(max_bytes=error.max_bytes, filename=f"Bundle.entry[{entry}]")
    named.message = f"Bundle.entry[{entry}]: {named.message} Nothing from this bundle was stored."
    named.args = (named.message,)
    named.data["entry"] = entry
    return named


def body_chunks(stream: Any, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """A request body (anything with ``read(n)``) in chunks."""
    while chunk := stream.read(chunk_size):
        yield chunk
