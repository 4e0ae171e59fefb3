"""gunicorn settings for the `web` service (behind the nginx `proxy`, which buffers slow clients)."""

import multiprocessing
import os

bind = "0.0.0.0:8000"
# Threads keep a streaming download from holding a whole process; processes use both cores.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Uploads of up to QUILL_MAX_UPLOAD_BYTES are hashed, validated and stored within one request.
# This restarts a worker whose main loop stops answering; it does not cut off a slow client,
# whose thread keeps waiting while the loop answers: the proxy's client_header_timeout and
# client_body_timeout, and QUILL_CLIENT_BODY_TIMEOUT_SECONDS, do (docs/operations.md, "Slow clients").
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200
worker_tmp_dir = "/dev/shm"  # noqa: S108 - heartbeat files, not data
# Only the proxy reaches gunicorn (no published port), so its X-Forwarded-* headers are trusted.
forwarded_allow_ips = "*"
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%({x-request-id}o)s"'
