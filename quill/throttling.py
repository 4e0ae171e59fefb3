"""API throttling that fails open when its Redis cache is unreachable.

Throttling protects Quill from abusive clients; it must not turn a Redis outage into a
500 on every API request (uploads included). While Redis is down, requests pass
unthrottled and a warning is logged; authentication and lockout (database) still apply.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)


class FailOpenUserRateThrottle(UserRateThrottle):
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError):
            logger.warning("throttle cache unreachable; request allowed unthrottled", exc_info=True)
            return True
