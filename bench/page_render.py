"""A document page in the viewer: first view vs later views, against the raw pypdfium2 render (issue 15).

Each round takes a fresh 3-page A4 PDF document (stored through the upload service,
marked clean) and, for each size asked for (default ``standard`` 1000 px and ``large``
2000 px wide), measures in turn:

- **raw**: pypdfium2 renders the page from a local file and Pillow encodes the WebP, as
  the viewer's renderer does (``apps.files.rendering.render_page_image``), with no
  Django, storage, database or audit: the component a page view used to run every time;
- **first view**: ``GET /documents/{id}/pages/{n}/{size}.webp`` when nothing is stored:
  authorise, copy the original from storage, render, store the rendition, audit;
- **stored**: the same request again: authorise, read the stored rendition, audit;
- **304**: the same request with the ``If-None-Match`` a browser sends: authorise, audit,
  no body;
- **floor**: ``GET /documents/{id}/status`` in the same session: the same sign-in,
  session, TOTP and document checks with no page, storage or audit work: what any portal
  request on a document costs on this machine at this moment (the share of a later view
  that is not the page route's own).

Requests go through Django's full stack in this process (middleware, session, TOTP check,
the view; the test client, so no socket or HTTP parsing, worth about a millisecond);
the time is the server's, wall clock, and the CPU time this process spent on it ("CPU
ms": less disturbed by other load on the machine than the wall clock; the database's
own CPU is not in it). Storage is SeaweedFS (``--storage s3``, the default) or a
private folder (``--storage filesystem``). Prints medians and p95 per size and the ratio
of each to the raw render; the target is a later view under 20 ms.

Then the **WebP encoder's effort** (``method`` 0-6 at the renderers' quality): one page of
a full letter PDF (``render_letter_pdf``: dense text, a table, the letterhead; what first
views of clinical documents and the letter previews draw) drawn once by pdfium per width,
then encoded ``--encode-repeat`` times per method; median ms and bytes, against the method
the page renderer uses (``PAGE_WEBP_METHOD``). ``--encoders-only`` skips the views.

    .venv/bin/python bench/page_render.py [--rounds 15] [--sizes standard,large] [--storage s3] [--encoders-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TARGET_MS = 20.0
PAGES = 3


@contextlib.contextmanager
def storage_env(kind: str) -> Iterator[dict[str, str]]:
    if kind == "s3":
        with h.seaweed() as s3:
            yield s3.settings_env()
        return
    with tempfile.TemporaryDirectory(prefix="quill-bench-pages-") as folder:
        yield {"QUILL_STORAGE": "filesystem", "QUILL_FILES_DIR": folder}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sizes", default="standard,large")
    parser.add_argument("--storage", choices=("s3", "filesystem"), default="s3")
    parser.add_argument("--encode-repeat", type=int, default=7, help="encodings per WebP method and width")
    parser.add_argument("--encoders-only", action="store_true", help="only the WebP encoder table")
    args = parser.parse_args()
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]

    with storage_env("filesystem" if args.encoders_only else args.storage) as storage_settings:
        env = h.base_env(**storage_settings)
        h.setup_django(env)
        if not args.encoders_only:
            run(args.rounds, sizes, args.storage)
        encoders(sizes, args.encode_repeat)


def _letter_pdf() -> bytes:
    """A full one-page clinical letter, invented, as the letters app prints it."""
    from datetime import date

    from apps.letters.pdf import LetterPdf, render_letter_pdf

    paragraph = (
        "The patient was seen in the fracture clinic for review of a left distal radius fracture "
        "managed in a below-elbow cast. Pain is settling and the fingers are well perfused. "
    )
    body = "# Assessment\n" + paragraph * 3 + "\n\n# Plan\n- Cast off at six weeks\n- Physiotherapy\n- Review in clinic"
    return render_letter_pdf(
        LetterPdf(
            organisation_name="Bench Orthopaedic Clinic",
            organisation_address=("1 Example Road", "Exampletown EX1 1AA"),
            patient_name="EXAMPLE, Alex",
            nhs_number="9434765919",
            mrn="MRN-0001",
            date_of_birth=date(1970, 1, 1),
            letter_date=date(2026, 12, 7),
            recipient_name="Dr J Smith",
            recipient_role="General Practitioner",
            recipient_address=("The Surgery", "2 High Street"),
            subject="Fracture clinic review",
            body=body,
            author_name="Dr Bench Clinician",
            author_role="Clinician",
        )
    )


def encoders(sizes: list[str], repeat: int) -> None:
    """Median encode time and size of one drawn letter page per WebP method, per width."""
    import io

    import pypdfium2 as pdfium

    from apps.documents.services.pages import PAGE_WIDTHS, PageSize
    from apps.files.rendering import PAGE_WEBP_METHOD, WEBP_QUALITY

    document = pdfium.PdfDocument(_letter_pdf())
    page = document[0]
    table = h.Table(
        f"WebP encoding of one letter page (quality {WEBP_QUALITY}; pages use method {PAGE_WEBP_METHOD})",
        ["width", "method", "median ms", "CPU ms", "bytes", "× time of the page method", "× size"],
    )
    for size in sizes:
        width = PAGE_WIDTHS[PageSize(size)]
        image = page.render(scale=width / page.get_size()[0]).to_pil().convert("RGB")
        results = {}
        for method in range(7):
            times, cpu, data = [], [], b""
            for _ in range(repeat):
                buffer = io.BytesIO()
                started, started_cpu = time.perf_counter(), time.process_time()
                image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=method)
                times.append(1000 * (time.perf_counter() - started))
                cpu.append(1000 * (time.process_time() - started_cpu))
                data = buffer.getvalue()
            results[method] = (h.median(times), h.median(cpu), len(data))
        base_time, _, base_size = results[PAGE_WEBP_METHOD]
        for method, (median, cpu_ms, length) in results.items():
            table.add(f"{size} ({width} px)", method, median, cpu_ms, length, median / base_time, length / base_size)
    page.close()
    document.close()
    table.print()


def run(rounds: int, sizes: list[str], storage_kind: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from apps.documents.services.pages import PAGE_WIDTHS, PageSize
    from apps.files.rendering import render_page_image
    from tests import factories
    from tests.documents import samples
    from tests.documents.helpers import stored_document

    print(h.machine())
    print(f"storage: {storage_kind}; {rounds} rounds; a fresh {PAGES}-page A4 PDF each round", flush=True)
    organisation = factories.make_organisation("Bench Viewer Clinic")
    clinician = factories.make_user(organisation, ["clinician"], email=f"viewer-{os.getpid()}@bench.test")
    patient = factories.make_patient(organisation)
    client = factories.signed_in_client(clinician)
    timings: dict[tuple[str, str], list[float]] = {}
    queries: dict[tuple[str, str], int] = {}
    cpu: dict[tuple[str, str], list[float]] = {}

    def record(size: str, kind: str, seconds: float) -> None:
        timings.setdefault((size, kind), []).append(seconds * 1000)

    def get(url: str, expect: int, counted: tuple[str, str] | None = None, **headers: str):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.thread_time()
            response = client.get(url, **headers)
            elapsed, used = time.perf_counter() - started, time.thread_time() - started_cpu
        if counted:
            queries[counted] = len(captured.captured_queries)
            cpu.setdefault(counted, []).append(used * 1000)
        if response.status_code != expect:
            raise RuntimeError(f"GET {url} answered {response.status_code}, expected {expect}")
        return elapsed, response

    with tempfile.TemporaryDirectory(prefix="quill-bench-pdf-") as workdir:
        for number in range(rounds):
            data = samples.pdf(PAGES, title=f"Bench discharge summary {number}")
            local = Path(workdir) / f"round-{number}.pdf"
            local.write_bytes(data)
            document = stored_document(user=clinician, patient=patient, data=data, category="clinical-note")
            page = number % PAGES + 1
            for size in sizes:
                width = PAGE_WIDTHS[PageSize(size)]
                started, started_cpu = time.perf_counter(), time.process_time()
                render_page_image(str(local), "application/pdf", page, width=width)
                record(size, "raw", time.perf_counter() - started)
                cpu.setdefault((size, "raw"), []).append((time.process_time() - started_cpu) * 1000)
                url = reverse("documents:page_image_sized", args=[document.pk, page, size])
                first, _ = get(url, 200, (size, "first view"))
                record(size, "first view", first)
                stored, response = get(url, 200, (size, "stored"))
                record(size, "stored", stored)
                revalidated, _ = get(url, 304, (size, "304"), HTTP_IF_NONE_MATCH=response["ETag"])
                record(size, "304", revalidated)
                floor, _ = get(reverse("documents:status", args=[document.pk]), 200, (size, "floor"))
                record(size, "floor", floor)

    table = h.Table(
        "Page view, server time (ms)",
        ["size", "kind", "median", "p95", "× raw (median)", "CPU ms", "queries", f"target < {TARGET_MS:.0f} ms"],
    )
    for size in sizes:
        raw = h.median(timings[(size, "raw")])
        for kind in ("raw", "first view", "stored", "304", "floor"):
            values = timings[(size, kind)]
            median = h.median(values)
            target = "ok" if median < TARGET_MS else "MISS" if kind in ("stored", "304") else ""
            table.add(f"{size} ({PAGE_WIDTHS[PageSize(size)]} px)", kind, median, h.percentile(values, 0.95),
                      median / raw, h.median(cpu[(size, kind)]), queries.get((size, kind), ""), target)  # fmt: skip
    table.print()


if __name__ == "__main__":
    main()
