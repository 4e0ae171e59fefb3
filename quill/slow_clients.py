"""A request body that stops arriving is cut off, so a slow client cannot hold a server thread.

gunicorn's threaded worker reads a request's body in one of its threads with no time limit:
a client that sends the headers and then trickles or stops sending the body keeps that thread
for as long as it likes, and a few such clients take every thread. In the compose stack nginx
receives whole requests first (`client_body_timeout`, `client_header_timeout` in
docker/nginx/quill.conf); this covers gunicorn reached directly. While Quill's view reads the
body, the connection's socket waits at most `QUILL_CLIENT_BODY_TIMEOUT_SECONDS` for each
piece of it (the same rule as nginx's `client_body_timeout`); when that passes, the request
is answered 408 `request_timeout` and the thread is free. The response is sent without the
limit. Other servers (runserver, the test client) pass no socket and are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from quill.errors import RequestTimeout

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class _TimedBody:
    """`wsgi.input`, noting whether a read gave up waiting for the client."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.timed_out = False

    def _reading(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except TimeoutError:
            self.timed_out = True
            raise  # an OSError: Django answers the read as an unreadable body

    def read(self, *args: Any) -> bytes:
        return self._reading(self.stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._reading(self.stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return self._reading(self.stream.readlines, *args)

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def cut_off_slow_bodies(app: WsgiApp, *, seconds: float) -> WsgiApp:
    """`app`, with each wait for a piece of the request body limited to `seconds` (0: no limit)."""

    def application(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        client = environ.get("gunicorn.socket")
        if client is None or seconds <= 0:
            return app(environ, start_response)
        body = _TimedBody(environ["wsgi.input"])
        environ["wsgi.input"] = body
        started: list[tuple] = []
        client.settimeout(seconds)
        try:
            result = app(environ, lambda *args: started.append(args))
        finally:
            client.settimeout(None)  # the response goes out without the limit
        if not body.timed_out:
            start_response(*started[0])
            return result
        if hasattr(result, "close"):
            result.close()
        refusal = RequestTimeout()
        payload = json.dumps({"detail": refusal.as_detail()}).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{refusal.http_status} Request Timeout", headers)
        return [payload]

    return application
