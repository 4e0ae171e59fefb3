"""DRF's parsers, refusing text Quill cannot store (see quill.input_guard) where they parse it.

The input guard leaves the bodies of DRF views to these: only the view knows whether it
parses its body at all (the direct upload reads it as a file, and a form body sent there
deserves its own pointer, not a refusal of its bytes). Each raises ``InvalidCharacters``
(400 ``invalid_characters``) for a NUL, a lone surrogate or bytes that are not UTF-8.
"""

from __future__ import annotations

import io
from typing import Any

from rest_framework import parsers

from quill.input_guard import check_data, check_urlencoded, decoded_utf8


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        decoded_utf8(raw, "JSON body")  # DRF would call bytes that are not UTF-8 a JSON parse error
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        check_data(data, "JSON body")
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        check_urlencoded(raw, "form field")  # before QueryDict replaces what is not UTF-8
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    """Django decodes multipart fields replacing bytes that are not UTF-8; a NUL is what remains to refuse."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        check_data(dict(parsed.data.lists()), "form")
        check_data([upload.name or "" for _, uploads in parsed.files.lists() for upload in uploads], "file name")
        return parsed
