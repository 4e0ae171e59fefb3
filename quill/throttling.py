"""API throttling that fails open when its Redis cache is unreachable.

Throttling protects Quill from abusive clients; it must not turn a Redis outage into a
500 on every API request (uploads included). While Redis is down, requests pass
unthrottled and a warning is logged; authentication and lockout (database) still apply.

With the Redis cache, each user's recent requests are a sorted set checked and updated
by one script: one round trip per request, whatever the rate. (DRF's own throttle reads
and rewrites the whole pickled list of timestamps, two round trips that grow with the
rate.) The rule is DRF's sliding window: at most N requests in any period; Retry-After
is when the oldest request in the window leaves it. Without Redis (the embedded run,
local-memory cache) DRF's own implementation is used.
"""

from __future__ import annotations

import functools
import logging
import uuid

import redis
from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)

REDIS_CACHE_BACKEND = "django.core.cache.backends.redis.RedisCache"

# KEYS[1]: the user's window. ARGV: now, cutoff (now - period), limit, expiry in ms, member.
# Returns {1, count} when allowed (and recorded), {0, count, oldest score} when refused.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, count, oldest[2]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, count + 1}
"""


@functools.cache
def _window_script(location: str) -> Script:
    """One client (thread-safe, pooled) per process; building one per call costs more than the call."""
    return redis.Redis.from_url(location).register_script(_SLIDING_WINDOW)


def _redis_location() -> str | None:
    cache = settings.CACHES.get("default", {})
    if cache.get("BACKEND") != REDIS_CACHE_BACKEND:
        return None
    location = cache.get("LOCATION")
    return location[0] if isinstance(location, list | tuple) else location


class FailOpenUserRateThrottle(UserRateThrottle):
    # Set by SimpleRateThrottle.__init__ from the rate; the stubs do not declare them.
    num_requests: int
    duration: int

    def allow_request(self, request, view) -> bool:
        try:
            location = _redis_location()
            if location is None:
                return super().allow_request(request, view)
            return self._allow_in_redis(request, view, location)
        except (RedisError, OSError):
            logger.warning("throttle cache unreachable; request allowed unthrottled", exc_info=True)
            return True

    def _allow_in_redis(self, request, view, location: str) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        result = _window_script(location)(
            keys=[f"quill:{self.key}:window"],
            args=[
                repr(self.now),
                repr(self.now - self.duration),
                self.num_requests,
                self.duration * 1000,
                f"{self.now!r}:{uuid.uuid4().hex[:12]}",
            ],
        )
        self._in_window = int(result[1])
        if result[0] == 1:
            return True
        self._oldest = float(result[2])
        return False

    def wait(self) -> float | None:
        if not hasattr(self, "_oldest"):
            return super().wait()
        # DRF's formula: when the oldest request leaves the window, spread over what is left.
        remaining = self.duration - (self.now - self._oldest)
        available = self.num_requests - self._in_window + 1
        if available <= 0:
            return None
        return remaining / float(available)
