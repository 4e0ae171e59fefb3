"""Structured logging: JSON lines in production format, each carrying the request id."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from django.test import Client

from quill import request_context
from quill.logging import JsonFormatter, RequestIdFilter


def _record(message: str = "document stored", **extra) -> logging.LogRecord:
    record = logging.LogRecord("quill.documents", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def _format(record: logging.LogRecord) -> dict:
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_json_line_carries_request_id_from_context():
    # given a request in progress
    token = request_context.set_current(request_context.RequestFacts(request_id="req-123", ip="192.0.2.1"))
    try:
        # when something logs
        entry = _format(_record())
    finally:
        request_context.reset(token)
    # then the line is one JSON object with the request id
    assert entry["request_id"] == "req-123"
    assert entry["message"] == "document stored"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "quill.documents"
    assert entry["time"].endswith("+00:00")


def test_json_line_outside_a_request_has_placeholder_id():
    assert _format(_record())["request_id"] == "-"


def test_json_line_includes_extra_fields_safely():
    entry = _format(_record(document_id="d-1", size=42, tags={"a"}))
    assert entry["document_id"] == "d-1"
    assert entry["size"] == 42
    assert entry["tags"] == "{'a'}"


def test_json_line_includes_exception():
    try:
        raise ValueError("bad bytes")
    except ValueError:
        record = _record(exc_info=sys.exc_info())
    entry = _format(record)
    assert "ValueError: bad bytes" in entry["exception"]


def test_explicit_request_id_on_record_wins():
    token = request_context.set_current(request_context.RequestFacts(request_id="from-context"))
    try:
        entry = _format(_record(request_id="from-task"))
    finally:
        request_context.reset(token)
    assert entry["request_id"] == "from-task"


@pytest.mark.django_db
@pytest.mark.urls("tests.accounts.urls")
def test_log_lines_during_a_request_carry_its_request_id():
    # given a JSON handler like production's
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("quill.tests")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        # when a view logs while serving a request
        response = Client().get("/quill-test/log/", HTTP_X_REQUEST_ID="req-from-proxy")
    finally:
        logger.removeHandler(handler)
    # then its line carries the same id as the response header
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert response["X-Request-ID"] == "req-from-proxy"
    assert line["request_id"] == "req-from-proxy"
    assert line["message"] == "hello from a request"
    assert line["patient_count"] == 3


def test_production_logging_uses_json_formatter():
    from django.conf import settings

    assert settings.LOGGING["formatters"]["json"]["()"] == "quill.logging.JsonFormatter"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id", "secrets"]
    assert ("json" if settings.PRODUCTION else "text") == settings.QUILL_LOG_FORMAT
