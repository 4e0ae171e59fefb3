"""A bench-only WSGI entry point: Quill's app with the audit append timed, or switched off.

Used only by ``bench/audit_share.py`` and ``bench/portal_pages.py``. ``BENCH_AUDIT=time`` wraps
``apps.audit.services.audit_record`` (and every module's imported reference to it)
to add up the time spent appending per request, and writes one line per request
``<request seconds> <audit seconds> <method> <path>`` to ``BENCH_PROBE_DIR/<pid>.log``.
``BENCH_AUDIT=off`` replaces the append with a stub (the comparison run: what a
request costs without the audit trail). Production code is untouched.
"""

from __future__ import annotations

import importlib
import os
import sys
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
