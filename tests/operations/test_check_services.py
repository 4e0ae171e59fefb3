"""check_services and /readyz: the same checks; storage probe, clamd EICAR, FHIR and EHRbase when configured."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from apps.files import storage
from tests.fhir.fhir_server import FhirTestServer
from tests.operations.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def services(any_storage, scanner, settings, redis_url):
    settings.QUILL_REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_EHRBASE_URL = ""
    return any_storage


class _Ehrbase(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.endswith("/definition/template/adl1.4")
        body = json.dumps([{"template_id": "quill_letter.v1"}] if ok else {"error": "no"}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ehrbase_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ehrbase)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ehrbase/rest/openehr/v1"
    server.shutdown()
    server.server_close()


def test_every_configured_service_passes(services):
    result = run("check_services")
    assert result.code == 0, result.out + result.err
    for name in ("database", "redis", "storage", "clamd"):
        assert f"OK   {name}" in result.out
    assert "clamd ok (Quill.Test.EICAR" in result.out
    assert "SKIP fhir" in result.out and "SKIP ehrbase" in result.out
    assert not [key for key, _, _ in storage.list_keys("_probe/")]  # the probe cleans up after itself


def test_fhir_and_ehrbase_are_checked_when_configured(services, settings, ehrbase_url):
    with FhirTestServer() as fhir:
        settings.QUILL_FHIR_BASE_URL = fhir.base_url
        settings.QUILL_EHRBASE_URL = ehrbase_url
        result = run("check_services", "--json")
    assert result.code == 0, result.out
    report = result.out[: result.out.rindex("}") + 1]  # the JSON document, then the summary line
    checks = json.loads(report)["checks"]
    assert checks["fhir"]["ok"] and checks["fhir"]["detail"].startswith("FHIR")
    assert checks["ehrbase"] == {**checks["ehrbase"], "ok": True, "detail": "1 template(s)"}


def test_fhir_down_fails_the_command_but_not_readiness(services, settings):
    settings.QUILL_FHIR_BASE_URL = "http://127.0.0.1:9/fhir"  # nothing listens on the discard port
    result = run("check_services")
    assert result.code == 1 and "FAIL fhir" in result.out and "failed: fhir" in result.out
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json()["checks"]["fhir"]["ok"] is False


def test_readyz_is_ready_with_every_service_up(services):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert {"database", "redis", "storage", "clamd"} <= set(response.json()["checks"])


def test_clamd_down_fails_command_and_readyz(services, scanner):
    scanner.stop()
    result = run("check_services", "--only", "clamd")
    assert result.code == 1 and "FAIL clamd" in result.out
    response = Client().get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["clamd"]["ok"] is False


def test_s3_down_fails_command_and_readyz(s3_storage, scanner):
    s3_storage.stop()
    result = run("check_services", "--only", "storage")
    assert result.code == 1 and "FAIL storage" in result.out
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


def test_unknown_check_name_is_a_usage_error(db):
    assert run("check_services", "--only", "nonsense").code == 2
