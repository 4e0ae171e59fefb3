"""Running operator commands in tests and reading what they said."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.core.management import call_command
from django.core.management.base import CommandError


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(name: str, *args: str) -> Run:
    """Run a management command as cron would; the exit code is what manage.py would return."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Run(exc.returncode, out.getvalue(), f"{err.getvalue()}{exc}")
    return Run(0, out.getvalue(), err.getvalue())
