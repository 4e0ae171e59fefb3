"""Celery's Redis transport, publishing through one Redis client per channel (issue 21).

Kombu's Redis channel builds a new ``redis.Redis`` client, on the channel's own connection
pool, for every message it publishes (and every queue length or purge): the client's
constructor copies redis-py's table of response callbacks each time, ~0.1 ms of CPU on
every upload's Celery publish. This channel builds that client once and keeps it. It is the
same client on the same pool, sending the same LPUSH, so the message, its queue and the
worker that consumes it are unchanged; routing, publish retries and signals are Celery's
own. A channel that is revived after a broker error is a new channel with a new client.

``settings.CELERY_BROKER_TRANSPORT`` names this transport for ``redis://`` and ``rediss://``
broker URLs only (Sentinel and the in-memory broker keep kombu's own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _quill_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        if self._quill_client is None:
            self._quill_client = self._create_client()
        yield self._quill_client


class Transport(kombu_redis.Transport):
    Channel = Channel
