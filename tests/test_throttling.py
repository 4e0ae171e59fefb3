"""API throttling: DRF's sliding window kept in Redis in one round trip, failing open without Redis."""

from __future__ import annotations

import logging
import uuid
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from quill.throttling import FailOpenUserRateThrottle

WHOAMI = "/api/quill-test/whoami/"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ThreePerMinute(FailOpenUserRateThrottle):
    rate = "3/minute"


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ThreePerMinute, "timer", clock)
    return clock


@pytest.fixture
def user():
    """A user id no other test run uses, and its window removed afterwards."""
    user = SimpleNamespace(pk=f"test-{uuid.uuid4().hex}", is_authenticated=True)
    store = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])
    yield user
    store.delete(f"quill:throttle_user_{user.pk}:window")


def _allowed(user) -> tuple[bool, float | None]:
    throttle = ThreePerMinute()
    allowed = throttle.allow_request(SimpleNamespace(user=user), view=None)
    return allowed, None if allowed else throttle.wait()


def test_the_rate_is_allowed_then_refused_until_the_oldest_request_leaves_the_window(clock, user):
    # given three requests in the minute, ten seconds apart
    for _ in range(3):
        assert _allowed(user) == (True, None)
        clock.now += 10
    # when a fourth comes 30 s after the first, then it is refused until the first is 60 s old
    assert _allowed(user) == (False, pytest.approx(30.0))
    # and a refused request does not count: once the first has left the window, one more is allowed
    clock.now += 30.001
    assert _allowed(user) == (True, None)
    assert _allowed(user)[0] is False


def test_users_are_counted_apart(clock, user):
    for _ in range(3):
        _allowed(user)
    other = SimpleNamespace(pk=f"{user.pk}-other", is_authenticated=True)
    try:
        assert _allowed(user)[0] is False
        assert _allowed(other) == (True, None)
    finally:
        redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"]).delete(
            f"quill:throttle_user_{other.pk}:window"
        )


def test_redis_unreachable_lets_requests_through_with_a_warning(settings, clock, user, caplog):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with caplog.at_level(logging.WARNING, logger="quill.throttling"):
        results = [_allowed(user) for _ in range(5)]
    assert results == [(True, None)] * 5
    assert "throttle cache unreachable" in caplog.text


def test_local_memory_cache_uses_drfs_own_window(settings, clock, user):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    results = [_allowed(user)[0] for _ in range(4)]
    assert results == [True, True, True, False]


@pytest.mark.django_db
@pytest.mark.urls("tests.accounts.urls")
def test_the_api_answers_429_with_the_error_shape_and_retry_after(monkeypatch, clinician):
    monkeypatch.setattr(FailOpenUserRateThrottle, "rate", "2/minute", raising=False)
    _, key = api_token_create(user=clinician, name="EHR integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    try:
        statuses = [client.get(WHOAMI).status_code for _ in range(2)]
        refused = client.get(WHOAMI)
    finally:
        redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"]).delete(
            f"quill:throttle_user_{clinician.pk}:window"
        )
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["detail"]["error_code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 61
