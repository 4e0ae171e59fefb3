"""The shared base for Quill's operator commands (like paperless-ngx's `management/commands/base.py`).

Every operations command gets the same shape:

* ``--dry-run`` on commands that change anything (``changes_state = True``): report, change nothing;
* ``self.track(iterable, total=..., description=...)``: a progress bar on stderr when stderr is
  a terminal, an occasional plain line otherwise (cron logs stay short);
* ``self.summary(text, problems=n)``: one closing line; problems make the command exit non-zero.

Exit codes, the same for every command (documented in docs/operations.md):
``0`` done, nothing wrong; ``1`` the command ran and found problems; ``2`` it could not run
(bad arguments, a service unreachable) and changed nothing it had not reported.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TextIO, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

T = TypeVar("T")

EXIT_PROBLEMS = 1
EXIT_UNABLE = 2

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: str) -> timedelta:
    """'90s', '15m', '24h', '7d' -> timedelta (for argparse ``type=``)."""
    match = _DURATION.match(value or "")
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class ProblemsFound(CommandError):
    """The command finished and found problems (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_PROBLEMS)


class Unable(CommandError):
    """The command could not do its work (exit 2): bad input, a service unreachable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, returncode=EXIT_UNABLE)


class Progress:
    """A textual progress bar on a terminal; on anything else a line every `every_seconds`."""

    WIDTH = 30

    def __init__(
        self,
        stream: TextIO,
        *,
        total: int | None,
        description: str,
        every_seconds: float = 30.0,
        clock=time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.description = description
        self.every_seconds = every_seconds
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_line = self.started
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.interactive:
            self.stream.write("\r" + self.render())
            self.stream.flush()
        elif now - self._last_line >= self.every_seconds:
            self._last_line = now
            self.stream.write(self.render() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.interactive and self.done:
            self.stream.write("\r" + self.render() + "\n")
            self.stream.flush()

    def render(self) -> str:
        elapsed = self.clock() - self.started
        if self.total:
            filled = min(self.WIDTH, int(self.WIDTH * self.done / self.total))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            return f"{self.description} [{bar}] {self.done}/{self.total} ({elapsed:.0f}s)"
        return f"{self.description}: {self.done} ({elapsed:.0f}s)"


class QuillCommand(BaseCommand):
    """Subclasses implement `add_command_arguments` and `run(**options)`."""

    changes_state = False
    dry_run = False

    def add_arguments(self, parser: CommandParser) -> None:
        if self.changes_state:
            parser.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Override to add the command's own options."""

    def handle(self, *args: Any, **options: Any) -> None:
        self.dry_run = bool(options.get("dry_run"))
        self.verbosity = int(options.get("verbosity", 1))
        self.run(**options)

    # Each command declares its own options as keyword-only parameters (`run(self, *, confirm: bool,
    # **options)`), which no single base signature admits; so the base only says what `run` is.
    run: Callable[..., None]

    # --- output --------------------------------------------------------------------------------

    def track(self, iterable: Iterable[T], *, total: int | None = None, description: str = "") -> Iterator[T]:
        """Yield from `iterable` while showing progress on stderr (quiet with --verbosity 0)."""
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        stream: TextIO = getattr(self.stderr, "_out", sys.stderr)
        progress = Progress(stream, total=total, description=description or "working")
        try:
            for item in iterable:
                yield item
                if self.verbosity > 0:
                    progress.advance()
        finally:
            if self.verbosity > 0:
                progress.close()

    def say(self, line: str, *, level: int = 1) -> None:
        if self.verbosity >= level:
            self.stdout.write(line)

    def summary(self, text: str, *, problems: int = 0) -> None:
        """The closing line; with problems, exit 1 (ProblemsFound) after printing it."""
        prefix = "DRY RUN: " if self.dry_run else ""
        if problems:
            self.stdout.write(self.style.ERROR(f"{prefix}{text}"))
            raise ProblemsFound(f"{problems} problem(s) found; see the report above.")
        self.stdout.write(self.style.SUCCESS(f"{prefix}{text}"))


def describe_age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    if hours < 1:
        return f"{age.total_seconds() / 60:.0f}m"
    if hours >= 48:
        return f"{hours / 24:.0f}d"
    return f"{hours:.0f}h" if hours.is_integer() else f"{hours:.1f}h"
