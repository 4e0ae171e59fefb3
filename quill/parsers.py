"""DRF's parsers, checking what they parsed for text Quill cannot store (see quill.input_guard).

The input guard middleware checks url-encoded and JSON bodies before the view; multipart
bodies can only be checked here, after the view has installed its upload handler. The
JSON and form checks repeat the guard's, so a view reached another way is covered too.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers

from quill.input_guard import check_data


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        check_data(data, "JSON body")
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        check_data(dict(data.lists()), "form")
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        check_data(dict(parsed.data.lists()), "form")
        check_data([upload.name or "" for _, uploads in parsed.files.lists() for upload in uploads], "file name")
        return parsed
