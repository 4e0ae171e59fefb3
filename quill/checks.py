"""Service checks shared by /readyz and `manage.py check_services`.

Each check is one small function returning a CheckResult; a check that is not
configured (e.g. no FHIR server) is skipped, not failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 4)}


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


CHECKS: dict[str, Callable[[], str | None]] = {"database": check_database}


def register(name: str, check: Callable[[], str | None]) -> None:
    """Add a check (apps register theirs in AppConfig.ready). Returning None means skipped."""
    CHECKS[name] = check


def run_checks(names: list[str] | None = None) -> list[CheckResult]:
    results = []
    for name, check in CHECKS.items():
        if names and name not in names:
            continue
        started = time.monotonic()
        try:
            detail = check()
            if detail is None:
                continue
            results.append(CheckResult(name, True, detail, time.monotonic() - started))
        except Exception as exc:  # a probe reports every failure, whatever its kind
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started))
    return results
