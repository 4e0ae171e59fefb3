"""A bench-only WSGI entry point: Quill's app with the audit append timed, or switched off,
and (``BENCH_COMPONENTS=1``) the named components of a request timed in CPU.

Used only by ``bench/audit_share.py``, ``bench/portal_pages.py`` and ``bench/components.py``. ``BENCH_AUDIT=time`` wraps
``apps.audit.services.audit_record`` (and every module's imported reference to it)
to add up the time spent appending per request, and writes one line per request
``<request seconds> <audit seconds> <method> <path>`` to ``BENCH_PROBE_DIR/<pid>.log``.
``BENCH_AUDIT=off`` replaces the append with a stub (the comparison run: what a
request costs without the audit trail). Production code is untouched.

``BENCH_COMPONENTS=1`` also wraps each component named in ``COMPONENTS`` (token
authentication, patient lookup, retention, validation, S3 put, audit append, Celery
publish, ...) and every database statement (a connection ``execute_wrapper``) in a
per-thread CPU timer (``time.thread_time``), and writes one JSON line per request to
``BENCH_PROBE_DIR/<pid>.components``: the request's own CPU, each component's CPU and the
number of statements. Components nest (a component's statements count in it and in
``database``). A component the served code does not have (an older checkout) is left out.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from quill.wsgi import application as quill_application

# After quill.wsgi, which sets Django up (the services module imports models).
audit_services = importlib.import_module("apps.audit.services")

MODE = os.environ.get("BENCH_AUDIT", "time")
PROBE_DIR = Path(os.environ.get("BENCH_PROBE_DIR", "/tmp"))
_spent = [0.0]
_original = audit_services.audit_record


def _timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return _original(*args, **kwargs)
    finally:
        _spent[0] += time.perf_counter() - started


def _off(*args, **kwargs):
    return None


replacement = _timed if MODE == "time" else _off
for module in list(sys.modules.values()):
    if getattr(module, "audit_record", None) is _original:
        module.audit_record = replacement
# Later imports (views loaded lazily by the URL resolver) bind the replacement too.
audit_services.audit_record = replacement


def application(environ, start_response):
    _spent[0] = 0.0
    started = time.perf_counter()
    result = quill_application(environ, start_response)
    try:
        yield from result
    finally:
        if hasattr(result, "close"):
            result.close()
        elapsed = time.perf_counter() - started
        with open(PROBE_DIR / f"{os.getpid()}.log", "a") as log:
            log.write(f"{elapsed:.6f} {_spent[0]:.6f} {environ['REQUEST_METHOD']} {environ['PATH_INFO']}\n")


# --- component CPU timers (BENCH_COMPONENTS=1) ------------------------------------------------------

# (label, module, attribute): a function, or "Class.method".
COMPONENTS = [
    ("token auth", "apps.accounts.authentication", "ApiTokenAuthentication.authenticate"),
    ("throttle", "quill.throttling", "FailOpenUserRateThrottle.allow_request"),
    # Where DRF parses the body (the first read of request.data, not necessarily uploaded_files()).
    ("request body (multipart, spool, hashes)", "rest_framework.request", "Request._load_data_and_files"),
    ("form fields (serializer)", "apps.documents.api._common", "_validated"),
    ("patient lookup", "apps.patients.selectors", "patient_get_for"),
    ("validation (type, PDF parse)", "apps.files.validation", "validate"),
    ("S3 put", "apps.files.storage", "put_file"),
    ("retention (lock + last date)", "apps.documents.services.retention", "retention_for_new_documents"),
    ("document insert", "django.db.models.query", "QuerySet.bulk_create"),
    ("audit append", "apps.audit.services", "audit_record"),
    ("Celery publish", "quill.queue", "enqueue"),
    ("document lookup (download)", "apps.documents.selectors", "document_get_for"),
]
_local = threading.local()


def _spend(label: str, seconds: float) -> None:
    spent = getattr(_local, "spent", None)
    if spent is not None:
        spent[label] = spent.get(label, 0.0) + seconds


def _cpu_timed(label: str, original):
    def timed(*args, **kwargs):
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            _spend(label, time.thread_time() - started)

    timed.__wrapped__ = original
    return timed


def _install_component_timers() -> list[str]:
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # import every view first, so the sweep below finds their references
    installed = []
    for label, module_name, attribute in COMPONENTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner_name, _, name = attribute.rpartition(".")
        owner = getattr(module, owner_name, None) if owner_name else module
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            continue
        timed = _cpu_timed(label, original)
        setattr(owner, name, timed)
        if not owner_name:  # a function: every module's imported reference to it too
            for other in list(sys.modules.values()):
                if getattr(other, name, None) is original:
                    setattr(other, name, timed)
        installed.append(label)
    return installed


def _database(execute, sql, params, many, context):
    started = time.thread_time()
    try:
        return execute(sql, params, many, context)
    finally:
        _spend("database statements (driver)", time.thread_time() - started)
        _spend("database statements (count)", 1.0)


if os.environ.get("BENCH_COMPONENTS") == "1":
    _install_component_timers()
    _plain_application = application

    def application(environ, start_response):
        from django.db import connection

        _local.spent = spent = {}
        started = time.thread_time()
        try:
            with connection.execute_wrapper(_database):
                yield from _plain_application(environ, start_response)
        finally:
            _local.spent = None
            spent["request"] = time.thread_time() - started
            record = {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "cpu": spent}
            with open(PROBE_DIR / f"{os.getpid()}.components", "a") as log:
                log.write(json.dumps(record) + "\n")
