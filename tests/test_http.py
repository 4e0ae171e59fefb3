"""parse_retry_after: the one Retry-After reader behind the FHIR and openEHR clients."""

from __future__ import annotations

import datetime as dt

import pytest

from quill.http import parse_retry_after

NOW = dt.datetime(2015, 10, 21, 7, 27, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("86400", 86400.0),  # no cap: the outbox backoff decides how long is too long
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:28:00", 60.0),  # no zone: read as UTC
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Wed, 99 Foo 2015", None),
    ],
    ids=repr,
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_without_now_measures_from_the_clock() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)

    seconds = parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))

    assert seconds is not None
    assert 80 <= seconds <= 90
