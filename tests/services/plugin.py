"""pytest plugin with Quill's real-service fixtures; load with `pytest_plugins = ["tests.services.plugin"]`.

Session fixtures start a service the first time a test asks for it and stop it
at the end of the session (temp dirs removed). A test that stops S3 or clamd
on purpose (outage tests) gets it restarted after it by `_restart_stopped_services`,
so one outage never leaks into the next test.

Fixtures: s3_server, clamd_server, imap_server, redis_url, celery_worker_factory,
browser, browser_context_args, page, screenshot; for TLS tests: pki (trustme certificates),
postgres_tls (a private PostgreSQL cluster, TLS and client certificates only) and
s3_tls_server (SeaweedFS's S3 gateway on HTTPS requiring a client certificate),
s3_expired_tls_server (the same with an expired certificate).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.services import ServiceError
from tests.services.browser import CSP_RECORDER, DEFAULT_CONTEXT_ARGS, launch_chromium, save_screenshot
from tests.services.celery_worker import CeleryWorker
from tests.services.clamd import Clamd
from tests.services.dovecot import Dovecot
from tests.services.postgres import PostgresTls
from tests.services.seaweedfs import SeaweedS3
from tests.services.tls import TestPki, make_pki

REDIS_BASE_URL = "redis://127.0.0.1:6379"
DEFAULT_REDIS_DB = 15

_started_services: pytest.StashKey[list[SeaweedS3 | Clamd | Dovecot]] = pytest.StashKey()
_phase_reports: pytest.StashKey[dict[str, pytest.TestReport]] = pytest.StashKey()


def _register(config: pytest.Config, service: SeaweedS3 | Clamd | Dovecot) -> None:
    config.stash.setdefault(_started_services, []).append(service)


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> Iterator[SeaweedS3]:
    """A SeaweedFS S3 server with an empty bucket `s3_server.bucket`, shared by the session."""
    server = SeaweedS3()
    try:
        server.start()
        _register(request.config, server)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """Test CA, server certificate for 127.0.0.1, Quill's client certificate, an expired one, another CA."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def postgres_tls(pki: TestPki) -> Iterator[PostgresTls]:
    """A private PostgreSQL cluster: hostssl with client-certificate auth only, user and database `quill`."""
    cluster = PostgresTls(pki)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def s3_tls_server(request: pytest.FixtureRequest, pki: TestPki) -> Iterator[SeaweedS3]:
    """SeaweedFS with its S3 gateway on HTTPS only, requiring a client certificate from the test CA."""
    server = SeaweedS3(bucket="quill-tls", tls=pki)
    try:
        server.start()
        _register(request.config, server)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3_expired_tls_server(request: pytest.FixtureRequest, pki: TestPki) -> Iterator[SeaweedS3]:
    """Like s3_tls_server, but serving an expired certificate."""
    server = SeaweedS3(bucket="quill-tls-expired", tls=pki, expired_certificate=True)
    try:
        server.start()
        _register(request.config, server)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def clamd_server(request: pytest.FixtureRequest) -> Iterator[Clamd]:
    """A clamd on `clamd_server.socket_path` that knows EICAR and QUILL_TEST_MALWARE."""
    daemon = Clamd()
    try:
        daemon.start()
        _register(request.config, daemon)
        yield daemon
    finally:
        daemon.close()


@pytest.fixture(scope="session")
def imap_server(request: pytest.FixtureRequest) -> Iterator[Dovecot]:
    """Debian's dovecot on a loopback port with one test mailbox (`imap_server.user`/`.password`)."""
    server = Dovecot()
    try:
        server.start()
        _register(request.config, server)
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _restart_stopped_services(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, bring back any session service the test stopped or killed."""
    yield
    for service in request.config.stash.get(_started_services, []):
        if not service.is_running:
            service.start()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """redis://127.0.0.1:6379/<QUILL_TEST_REDIS_DB, default 15>, flushed at the start of the run.

    Give parallel runs on one machine different QUILL_TEST_REDIS_DB values.
    """
    database = int(os.environ.get("QUILL_TEST_REDIS_DB", DEFAULT_REDIS_DB))
    url = f"{REDIS_BASE_URL}/{database}"
    connection = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        connection.flushdb()
    except redis.RedisError as error:
        raise ServiceError(
            f"Redis at {url} does not answer ({error}); run scripts/install-test-deps.sh", service="redis"
        ) from error
    finally:
        connection.close()
    return url


@pytest.fixture
def celery_worker_factory() -> Iterator[Callable[..., CeleryWorker]]:
    """Start real workers: `celery_worker_factory(env={...}, queues=["scans"])`; all stopped after the test."""
    workers: list[CeleryWorker] = []

    def start(**kwargs: Any) -> CeleryWorker:
        worker = CeleryWorker(**kwargs)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.close()


# --- browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API leaves an asyncio loop marked running in the main thread for the
    # rest of the session, which makes Django refuse ORM calls (SynchronousOnlyOperation) in
    # every later test. Tests stay synchronous, so switch that check off while Playwright runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield playwright
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    """Debian's chromium, headless, one per session (`playwright.sync_api.Browser`)."""
    chromium = launch_chromium(_playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """Arguments for `browser.new_context()`; override in a conftest (e.g. to add `base_url`)."""
    return dict(DEFAULT_CONTEXT_ARGS)


@pytest.fixture
def page(browser: Any, browser_context_args: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh browser context for this test; a screenshot is saved if the test fails."""
    context = browser.new_context(**browser_context_args)
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_RECORDER)  # read with tests.services.browser.csp_violations
    new_page = context.new_page()
    yield new_page
    report = request.node.stash.get(_phase_reports, {}).get("call")
    if report is not None and report.failed:
        try:
            path = save_screenshot(new_page, f"FAILED-{request.node.nodeid}")
        except Exception as error:  # a broken page must not hide the test's own failure
            request.node.add_report_section("teardown", "screenshot", f"no screenshot: {error!r}")
        else:
            request.node.add_report_section("teardown", "screenshot", f"saved {path}")
    context.close()


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`screenshot("step")` saves artifacts/screenshots/<test id>-step.png of `page`."""

    def take(name: str = "", *, full_page: bool = True) -> Path:
        label = f"{request.node.nodeid}-{name}" if name else request.node.nodeid
        return save_screenshot(page, label, full_page=full_page)

    return take


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(_phase_reports, {})[report.when] = report
