"""Where one API request's CPU goes, function by function: a 50 KiB upload, the no-op request, in one process.

Starts SeaweedFS, sets Django up in this process against the bench database, and calls
Quill's WSGI application directly (no gunicorn, no socket to Quill: the figures are Quill's
own work) with the bytes ``bench/components.py`` sends: ``POST /api/documents/`` with a
50 KiB PDF, and ``GET /api/`` with the token (the floor). Prints each kind's CPU per request
(``time.thread_time``, median of ``--count`` after a warm-up), then, with ``--profile``, a
cProfile of as many more requests, sorted by own time and by cumulative time, so a
regression can be named down to the function. ``bench/components.py`` gives the
per-component table through gunicorn; this is the magnifying glass beside it.

    .venv/bin/python bench/profile_request.py [--count 300] [--profile upload] [--top 40]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h


def environ_for(method: str, path: str, token: str, *, body: bytes = b"", content_type: str = "") -> dict:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"] = content_type
        environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "quillbench" + secrets.token_hex(12)
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--size-kib", type=int, default=50)
    parser.add_argument("--profile", choices=["upload", "floor", "none"], default="upload")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--dump", type=Path, help="also write the profile here (for pstats: callers, callees)")
    args = parser.parse_args()
    env = h.base_env()
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-profile-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        data = h.write_pdf(Path(tmp) / "letter.pdf", args.size_kib * 1024).read_bytes()
        from quill.wsgi import application

        def call(environ: dict) -> int:
            status = []
            result = application(environ, lambda s, headers, exc_info=None: status.append(s))
            try:
                for _ in result:
                    pass
            finally:
                if hasattr(result, "close"):
                    result.close()
            return int(status[0].split()[0])

        def upload() -> int:
            body, content_type = multipart(
                {"patient_id": str(fixture.patient_id), "category": "letter"}, "letter.pdf", data
            )
            return call(environ_for("POST", "/api/documents/", fixture.token, body=body, content_type=content_type))

        def floor() -> int:
            return call(environ_for("GET", "/api/", fixture.token))

        kinds = {"upload": (upload, 201), "floor": (floor, 200)}
        for _ in range(20):  # warm-up: imports, connections, compiled lookups
            for action, expected in kinds.values():
                assert action() == expected
        spent: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.count):
            for kind, (action, expected) in kinds.items():
                started = time.thread_time()
                status = action()
                spent[kind].append(time.thread_time() - started)
                assert status == expected, status
        print(h.machine())
        for kind, values in spent.items():
            ms = sorted(1000 * v for v in values)
            print(
                f"{kind}: CPU per request median {statistics.median(ms):.2f} ms, mean {statistics.fmean(ms):.2f}, "
                f"p10 {ms[len(ms) // 10]:.2f}, p90 {ms[len(ms) * 9 // 10]:.2f} ({len(ms)} requests)"
            )
        if args.profile != "none":
            action, expected = kinds[args.profile]
            profile = cProfile.Profile(time.thread_time)
            profile.enable()
            for _ in range(args.count):
                action()
            profile.disable()
            if args.dump:
                profile.dump_stats(args.dump)
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out)
                stats.sort_stats(order).print_stats(args.top)
                print(f"--- {args.profile}, {args.count} requests, by {order} (thread CPU seconds) ---")
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20000])


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
