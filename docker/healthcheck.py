"""Liveness probe of the `web` container: GET /healthz on gunicorn, as the proxy would send it.

Uses the first DJANGO_ALLOWED_HOSTS name (Django refuses other hosts) and says the original
request was HTTPS (X-Forwarded-Proto, trusted when QUILL_PROXY_COUNT > 0), so the production
HTTPS redirect does not answer instead of the view.
"""

import http.client
import os
import sys

hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
connection = http.client.HTTPConnection("127.0.0.1", 8000, timeout=5)
try:
    connection.request("GET", "/healthz", headers={"Host": host, "X-Forwarded-Proto": "https"})
    status = connection.getresponse().status
except OSError as error:
    print(f"web is not answering: {error}")
    sys.exit(1)
sys.exit(0 if status == 200 else 1)
