"""Peak memory of the gunicorn worker for a 1 GiB upload and download (issue 9: each < 64 MiB).

Starts SeaweedFS and gunicorn with one sync worker (so every request lands on the
process measured) and an upload limit above 1 GiB. Before each request the worker's
peak RSS (VmHWM in /proc/<pid>/status, the kernel's own accounting) is reset to its
current RSS (``echo 5 > /proc/<pid>/clear_refs``); after it, the rise is
VmHWM - VmRSS(before). Each run uploads the file as a multipart form, then as the
request body with ``Repr-Digest`` (streamed into S3 in parts while it arrives), then
downloads it. The file is DICOM (the type large clinical files have); a pdf row is
available with ``--kind pdf``.

    .venv/bin/python bench/memory.py [--size-mib 1024] [--kind dicom]
"""

# ruff: noqa: B023  (each closure is called within its own loop iteration)
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

LIMIT_MIB = 64


def measure(pid: int, action) -> tuple[float, int, int]:
    before = h.proc_status(pid)["VmRSS"]
    h.reset_peak_rss(pid)
    seconds = h.timed(action)
    after = h.proc_status(pid)
    return seconds, before, after["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--kind", choices=["dicom", "pdf"], default="dicom")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    env = h.base_env(QUILL_MAX_UPLOAD_BYTES=str((args.size_mib + 16) * h.MiB), QUILL_S3_STREAM_UPLOADS="true")
    table = h.Table(
        f"Memory: gunicorn worker peak RSS rise, {args.kind} {args.size_mib} MiB (kB from /proc/<pid>/status)",
        ["op", "run", "seconds", "RSS before MiB", "peak MiB", "rise MiB", "target"],
    )
    with h.seaweed() as s3, tempfile.TemporaryDirectory(prefix="quill-bench-mem-") as tmp:
        env.update(s3.settings_env())
        h.setup_django(env)
        fixture = h.make_fixture()
        path = Path(tmp) / f"big.{'dcm' if args.kind == 'dicom' else 'pdf'}"
        (h.write_dicom if args.kind == "dicom" else h.write_pdf)(path, args.size_mib * h.MiB)
        size = path.stat().st_size
        with h.Gunicorn(env, workers=1) as server:
            print(h.machine(), flush=True)
            (pid,) = server.worker_pids()
            # Warm the worker with a small upload and download (imports, pools, first DB connection).
            small = Path(tmp) / "small.dcm"
            h.write_dicom(small, h.MiB)
            warm = h.api_upload(server.port, fixture.token, small, patient_id=fixture.patient_id, filename=small.name)
            h.mark_clean([warm["id"]])
            h.api_download(server.port, fixture.token, warm["id"], expect=h.MiB)
            worst = {"upload": 0.0, "upload (body+digest, streamed)": 0.0, "download": 0.0}
            digest = h.file_digest(path)
            for run in range(1, args.repeat + 1):
                document = {}

                def upload():
                    document.update(
                        h.api_upload(
                            server.port, fixture.token, path, patient_id=fixture.patient_id, filename=path.name
                        )
                    )

                seconds, before, peak = measure(pid, upload)
                rise = (peak - before) / 1024
                worst["upload"] = max(worst["upload"], rise)
                table.add("upload", run, seconds, before / 1024, peak / 1024, rise, h.verdict(rise, LIMIT_MIB))
                seconds, before, peak = measure(
                    pid,
                    lambda: h.api_upload_direct(
                        server.port, fixture.token, path, patient_id=fixture.patient_id, filename=path.name,
                        repr_digest=digest,
                    ),
                )  # fmt: skip
                rise = (peak - before) / 1024
                worst["upload (body+digest, streamed)"] = max(worst["upload (body+digest, streamed)"], rise)
                table.add(
                    "upload (body+digest, streamed)", run, seconds, before / 1024, peak / 1024, rise,
                    h.verdict(rise, LIMIT_MIB),
                )  # fmt: skip
                h.mark_clean([document["id"]])
                seconds, before, peak = measure(
                    pid, lambda: h.api_download(server.port, fixture.token, document["id"], expect=size)
                )
                rise = (peak - before) / 1024
                worst["download"] = max(worst["download"], rise)
                table.add("download", run, seconds, before / 1024, peak / 1024, rise, h.verdict(rise, LIMIT_MIB))
    table.print()
    print("worst rise: " + ", ".join(f"{op} {mib:.1f} MiB" for op, mib in worst.items()))


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
