"""Read one file's text as the worker does, in a process of its own, and say what it cost in memory.

    python tests/documents/extraction_probe.py '{"path": ..., "content_type": ..., "workdir": ..., "limits": {...}}'

Prints one JSON object: `outcome` ("done", "no_text", or the failure's error_code), `pages`,
`method`, `self_peak_rss_kib` (this process's VmHWM, reset just before: the worker's own part of the work),
`baseline_rss_kib` (this process's resident set just before the extraction, after its imports) and
`children_peak_rss_kib` (the largest process extraction started, OCR's killed orphans
included: this process makes itself their subreaper and reaps them). Used by
tests/documents/test_text_limits.py to measure memory without the test process's history.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.files.errors import TextNotRead
from apps.files.extraction import ExtractionLimits, extract_text

PR_SET_CHILD_SUBREAPER = 36


def _reap_orphans(wait: float = 5.0) -> None:
    """Wait for every descendant that was reparented here (killed Tesseract or Ghostscript)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(name)


def _reset_peak() -> int:
    """Set the kernel's high-water mark (VmHWM) back to the current resident set, which is returned:
    the peak then measures the extraction, not the imports before it."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def main(request: dict) -> dict:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    baseline = _reset_peak()
    result: dict = {}
    try:
        extracted = extract_text(
            request["path"],
            request["content_type"],
            workdir=request["workdir"],
            languages=["eng"],
            limits=ExtractionLimits(**request["limits"]),
            ocr_mode="tesseract",
        )
        result.update(
            outcome="done" if extracted.has_text else "no_text", pages=len(extracted.pages), method=extracted.method
        )
    except TextNotRead as failure:
        result.update(outcome=failure.error_code, message=failure.message)
    _reap_orphans()
    result.update(
        baseline_rss_kib=baseline,
        self_peak_rss_kib=_status_kib("VmHWM"),
        children_peak_rss_kib=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
