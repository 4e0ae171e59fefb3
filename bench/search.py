"""Search benchmarks (issue 18): query speed vs the raw tsquery, OCR throughput vs ocrmypdf, reindex vs pypdfium2.

    .venv/bin/python bench/search.py query [--small 10000] [--large 1000000] [--samples 100]
    .venv/bin/python bench/search.py query --sizes 10000,100000,1000000 [--samples 100]
    .venv/bin/python bench/search.py ocr [--files 4] [--pages 1]
    .venv/bin/python bench/search.py ocr-worker [--files 6] [--pages 1] [--concurrency 2] [--rounds 1]
    .venv/bin/python bench/search.py ocr-rss [--pages 200]
    .venv/bin/python bench/search.py reindex [--documents 200]

query: seeds documents with `seed_documents` (COPY) and their pages (COPY, about 300 words a
document over 1-3 pages, drawn with Zipf frequencies from a 20,000-word clinical vocabulary, then
one INSERT ... SELECT with both tsvectors and the document's access columns) into
`<bench db>_search`, at `--small` then grown to `--large` documents (or at each of `--sizes`); at
each size times Quill's `document_search` (the list's access rules, ranking, title trigrams,
snippets and the total) for 1-3-word queries of mixed frequency, patient-scoped and
organisation-wide, against the same tsquery run directly on the same tables (organisation filter,
rank, LIMIT 25); prints p50/p95 and the ratios, and writes EXPLAIN ANALYZE plans of both (rare,
middling and common words) to bench/results/.

ocr: the same small scans through Quill's extraction (as the worker runs it, one at a time) and
through `ocrmypdf` run directly with the same options, alternating; throughput ratio (target >= 0.8).

ocr-worker: the same scans through a real Celery text worker (prefork, --concurrency N, its own
queue, filesystem storage in `<bench db>_ocr`: every step the task takes, from reading the
original to recording pages and storing the PDF/A) and through `ocrmypdf` directly, N at a time
from a thread pool, in the same run; throughput ratio (target >= 0.8).

ocr-rss: one scan of --pages A4 pages (150 DPI, a few lines of text each) through a real text
worker (prefork, one process): the peak RSS of the pool process that ran the task (VmHWM,
target < 512 MiB), the worker's main process, the largest OCR child and the whole tree (sampled).

reindex: text-layer PDFs stored on the filesystem and read by `reindex_text --all` vs pypdfium2
text extraction alone on the same files; pages per second of each.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from harness import DATABASE_URL, REPO_ROOT, Table, base_env, machine, median, percentile, setup_django

RESULTS = REPO_ROOT / "bench" / "results"
# Common words of clinical letters, most frequent first; then generated words fill a long tail, with
# drug names scattered through it, so that word frequencies follow Zipf's law (rank r drawn with
# weight 1 / r ** ZIPF_EXPONENT) over VOCABULARY_SIZE words, as in real text: a few words on almost
# every page, drug names on one or two documents in a hundred.
_COMMON_TEXT = """
patient the and of to with was in for on is no at he she has be been as will review clinic plan
history pain blood letter follow up today seen thank you dear dr weeks months daily mg examination
normal pressure heart rate chest referral discharge summary admitted ward consultant registrar
bloods renal function potassium sodium haemoglobin platelets dose twice tablet injection allergy
rash fever cough breath shortness diabetes hypertension asthma smoking alcohol weight diet exercise
nurse dressing wound leg oedema fall fracture hip knee physiotherapy therapy district surgery
practice number results ultrasound xray ecg sinus rhythm atrial fibrillation stroke risk bleeding
failure ejection fraction target inr units bmi sputum inhaler occupational replacement ulcer
"""
_DRUGS_TEXT = """
warfarin apixaban rivaroxaban edoxaban dabigatran metformin gliclazide insulin empagliflozin sitagliptin
amlodipine ramipril lisinopril losartan candesartan bisoprolol atenolol atorvastatin simvastatin
rosuvastatin furosemide bumetanide spironolactone indapamide bendroflumethiazide digoxin amiodarone
salbutamol beclometasone tiotropium montelukast prednisolone hydrocortisone levothyroxine omeprazole
lansoprazole paracetamol ibuprofen naproxen codeine morphine oxycodone tramadol gabapentin pregabalin
sertraline citalopram fluoxetine mirtazapine amitriptyline quetiapine olanzapine lithium donepezil
levetiracetam lamotrigine valproate carbamazepine phenytoin amoxicillin penicillin doxycycline
clarithromycin nitrofurantoin trimethoprim ciprofloxacin metronidazole flucloxacillin allopurinol
colchicine methotrexate alendronate tamsulosin finasteride clopidogrel aspirin ticagrelor hba1c
"""
COMMON = tuple(_COMMON_TEXT.split())
DRUGS = tuple(word for word in _DRUGS_TEXT.split() if word not in COMMON)
VOCABULARY_SIZE = 20_000
ZIPF_EXPONENT = 1.0
WORDS_PER_DOCUMENT = (250, 350)  # spread over 1-3 pages
# 1-3 words of mixed frequency: drug names (rare), common words, and both together.
QUERIES = [
    "warfarin",
    "atrial fibrillation",
    "heart failure furosemide",
    "patient",
    "penicillin rash",
    "apixaban",
    "chest pain",
    "hba1c",
    "inr",
    "metformin review",
]

# Plans are written for a rare word, a mid-frequency pair, a word on 5 % of documents and one on all.
PLAN_QUERIES = ("hba1c", "chest pain", "warfarin", "patient")


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """VOCABULARY_SIZE words by rank and their cumulative Zipf weights."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ar", "en", "ol")]
    words = list(COMMON)
    taken = set(words) | set(DRUGS)
    while len(words) < VOCABULARY_SIZE - len(DRUGS):
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in taken:
            taken.add(word)
            words.append(word)
    # drug names at ranks from 300 to 10,000: each on about 0.3 % to 10 % of documents
    for drug, rank in zip(DRUGS, sorted(rng.sample(range(300, 10_000), len(DRUGS))), strict=True):
        words.insert(rank, drug)
    weights, running = [], 0.0
    for rank in range(1, len(words) + 1):
        running += 1 / rank**ZIPF_EXPONENT
        weights.append(running)
    return words, weights


_VOCABULARY: tuple[list[str], list[float]] | None = None


def _words(rng: random.Random, count: int) -> str:
    global _VOCABULARY
    if _VOCABULARY is None:
        _VOCABULARY = _vocabulary(random.Random(18))
    words, weights = _VOCABULARY
    return " ".join(rng.choices(words, cum_weights=weights, k=count))


# --- query ---------------------------------------------------------------------------------------------


def _seed(organisation_id: str | None, patients: int, documents: int) -> str:
    from django.core.management import call_command

    args = ["seed_documents", "--patients", str(patients), "--documents", str(documents), "-v", "0"]
    if organisation_id:
        args += ["--organisation", organisation_id]
    call_command(*args)
    from apps.accounts.models import Organisation

    return organisation_id or str(Organisation.objects.order_by("-pk").first().pk)  # type: ignore[union-attr]


def _seed_pages(organisation_id: str, rng: random.Random) -> int:
    """Pages for every document of the organisation that has none yet: their text by COPY into a
    staging table, then one INSERT ... SELECT that computes both vectors and copies each document's
    access columns (as `index_replace_pages` writes them). Many pages at once are inserted with the
    GIN indexes dropped and then rebuilt from their own definitions (far faster than growing them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM documents_document d WHERE organisation_id = %s "
            "AND NOT EXISTS (SELECT 1 FROM documents_documentpage p WHERE p.document_id = d.id)",
            [organisation_id],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("CREATE UNLOGGED TABLE IF NOT EXISTS bench_pages (document_id uuid, page_number int, text text)")
        cursor.execute("TRUNCATE bench_pages")
        count = 0
        with cursor.cursor.copy("COPY bench_pages (document_id, page_number, text) FROM STDIN") as copy:
            for document_id in ids:
                pages = rng.randint(1, 3)
                per_page = rng.randint(*WORDS_PER_DOCUMENT) // pages
                for page in range(1, pages + 1):
                    copy.write_row((document_id, page, _words(rng, per_page)))
                    count += 1
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents_documentpage' "
            "AND indexdef LIKE '% USING gin %'"
        )
        gin = cursor.fetchall() if count > 100_000 else []
        for name, _ in gin:
            cursor.execute(f'DROP INDEX "{name}"')
        # Large loads in two sessions at once (half the documents each; the vectors are the CPU work),
        # and the two GIN indexes built side by side.
        halves = 2 if gin else 1
        inserts = [_INSERT_PAGES.replace("{halves}", str(halves)).replace("{half}", str(n)) for n in range(halves)]
        _in_sessions(inserts)
        cursor.execute("DROP TABLE bench_pages")
        _in_sessions([definition for _, definition in gin], setup="SET maintenance_work_mem = '1GB'")
        # (seed_documents makes them scanned clean; their text_status stays `pending`, which search ignores.)
        # VACUUM as autovacuum soon would: it also empties the GIN indexes' pending lists (the title
        # trigram index's too), which every search would otherwise read through.
        cursor.execute("VACUUM ANALYZE documents_documentpage")
        cursor.execute("VACUUM ANALYZE documents_document")
    return count


_INSERT_PAGES = (
    "INSERT INTO documents_documentpage (document_id, page_number, text, language, organisation_id, "
    "patient_id, category, document_date, searchable, search_stemmed, search_simple) "
    "SELECT s.document_id, s.page_number, s.text, 'english', d.organisation_id, d.patient_id, "
    "d.category, d.document_date, d.is_current AND d.deleted_at IS NULL AND d.purged_at IS NULL "
    "AND d.scan_status IN ('clean', 'not_scanned') AND d.integrity = 'ok', "
    "to_tsvector('english', s.text), to_tsvector('simple', s.text) "
    "FROM bench_pages s JOIN documents_document d ON d.id = s.document_id "
    "WHERE abs(hashtext(s.document_id::text)) % {halves} = {half}"
)


def _in_sessions(statements: list[str], setup: str = "") -> None:
    """Run `statements` at the same time, each in its own autocommitted session (after `setup`)."""
    import threading

    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    errors: list[BaseException] = []

    def run(statement: str) -> None:
        try:
            with psycopg.connect(
                dbname=settings["NAME"],
                user=settings["USER"],
                host=settings["HOST"],
                port=settings["PORT"] or 5432,
                password=settings["PASSWORD"] or None,
                autocommit=True,
            ) as session:
                if setup:
                    session.execute(setup)  # type: ignore[arg-type]
                session.execute(statement)  # type: ignore[arg-type]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(statement,)) for statement in statements]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


RAW = """
SELECT p.document_id, p.page_number,
       ts_rank_cd(p.search_stemmed, websearch_to_tsquery('english', %(q)s)) AS rank
FROM documents_documentpage p JOIN documents_document d ON d.id = p.document_id
WHERE d.organisation_id = %(organisation)s {patient}
  AND (p.search_stemmed @@ websearch_to_tsquery('english', %(q)s)
       OR p.search_simple @@ websearch_to_tsquery('simple', %(q)s))
ORDER BY rank DESC LIMIT 25
"""


def _raw(organisation_id: str, patient_id: str | None, q: str) -> None:
    from django.db import connection

    sql = RAW.replace("{patient}", "AND d.patient_id = %(patient)s" if patient_id else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"q": q, "organisation": organisation_id, "patient": patient_id})
        cursor.fetchall()


def _quill(user, patient_id: str | None, q: str, *, patient_statement: bool = True) -> None:
    from apps.documents.search import query

    query.PATIENT_STATEMENT = patient_statement
    try:
        query.document_search(user=user, q=q, scope=query.SearchScope(patient_id=patient_id))
    finally:
        query.PATIENT_STATEMENT = True


# Scopes measured: the patient scope through its own statement ("patient") and, in the same run,
# through the general statement and a second query for the documents as before ("patient-general").
SCOPES = ("patient", "patient-general", "org")


def _measure(user, organisation_id: str, patients: list[str], samples: int, rng: random.Random) -> dict[str, list]:
    times: dict[str, list[float]] = {f"{scope} {who}": [] for scope in SCOPES for who in ("quill", "raw")}
    for index in range(samples):
        q = QUERIES[index % len(QUERIES)]
        patient = rng.choice(patients)
        for label, scoped in (("patient", patient), ("patient-general", patient), ("org", None)):
            started = time.perf_counter()
            _raw(organisation_id, scoped, q)
            times[f"{label} raw"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            _quill(user, scoped, q, patient_statement=label != "patient-general")
            times[f"{label} quill"].append((time.perf_counter() - started) * 1000)
    return times


def _quill_sql(user, patient_id: str | None, q: str) -> str:
    """Quill's search statement for `q` as it was sent (parameters bound), for EXPLAIN."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _quill(user, patient_id, q)
    return next(
        query["sql"]
        for query in captured.captured_queries
        if "candidates AS MATERIALIZED" in query["sql"] or "pages AS MATERIALIZED" in query["sql"]
    )


def _plans(user, organisation_id: str, patient: str, label: str) -> None:
    from django.db import connection

    RESULTS.mkdir(exist_ok=True)
    with connection.cursor() as cursor:
        for q in PLAN_QUERIES:
            for scope, patient_id in (("patient", patient), ("organisation", None)):
                sql = RAW.replace("{patient}", "AND d.patient_id = %(patient)s" if patient_id else "")
                params = {"q": q, "organisation": organisation_id, "patient": patient_id}
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                raw = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + _quill_sql(user, patient_id, q))
                quill = "\n".join(row[0] for row in cursor.fetchall())
                path = RESULTS / f"search-plan-{label}-{scope}-{q.replace(' ', '_')}.txt"
                path.write_text(f"-- raw\n{raw}\n\n-- Quill\n{quill}\n")
                print(f"plan ({label}, {scope}, {q}): raw {raw.splitlines()[-1]}; Quill {quill.splitlines()[-1]}")


def run_query(args: argparse.Namespace) -> None:
    url = DATABASE_URL.rsplit("/", 1)[0] + "/" + DATABASE_URL.rsplit("/", 1)[1] + "_search"
    subprocess.run(
        [
            "psql",
            DATABASE_URL.rsplit("/", 1)[0] + "/postgres",
            "-qc",
            f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"',
        ],
        check=True,
    )
    setup_django(base_env(DATABASE_URL=url))
    from apps.patients.models import Patient
    from tests.factories import make_user

    rng = random.Random(18)
    print(machine())
    table = Table(
        "search query (ms)", ["documents", "scope", "quill p50", "quill p95", "raw p50", "raw p95", "p95 ratio"]
    )
    organisation_id = None
    done = 0
    p95s: dict[tuple[int, str], float] = {}
    sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else [args.small, args.large]
    for size in sizes:
        started = time.perf_counter()
        organisation_id = _seed(organisation_id, max(1, (size - done) // 10), size - done)
        seeded = time.perf_counter() - started
        pages = _seed_pages(organisation_id, rng)
        done = size
        print(
            f"seeded to {size} documents in {time.perf_counter() - started:.0f} s "
            f"(documents {seeded:.0f} s, {pages} new pages {time.perf_counter() - started - seeded:.0f} s)",
            flush=True,
        )
        from apps.accounts.models import Organisation

        organisation = Organisation.objects.get(pk=organisation_id)
        user = make_user(organisation, ["clinician"], email=f"bench-{uuid.uuid4().hex[:8]}@bench.test")
        patients = [
            str(pk) for pk in Patient.objects.filter(organisation=organisation).values_list("pk", flat=True)[:500]
        ]
        _measure(user, organisation_id, patients, 10, rng)  # warm up
        times = _measure(user, organisation_id, patients, args.samples, rng)
        for scope in SCOPES:
            quill, raw = times[f"{scope} quill"], times[f"{scope} raw"]
            p95s[(size, scope)] = percentile(quill, 0.95)
            table.add(size, scope, median(quill), percentile(quill, 0.95), median(raw), percentile(raw, 0.95),
                      percentile(quill, 0.95) / percentile(raw, 0.95))  # fmt: skip
        table.print()  # after each size too: the large one may take hours
        print(f"load average after measuring {size}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        _plans(user, organisation_id, patients[0], str(size))
    table.print()
    for size in sizes[1:]:
        for scope in ("patient", "org"):
            growth = p95s[(size, scope)] / p95s[(sizes[0], scope)]
            print(f"growth {scope}: p95 at {size} / p95 at {sizes[0]} = {growth:.2f} (target <= 1.5)")


# --- ocr -------------------------------------------------------------------------------------------------


def _scans(folder: Path, files: int, pages: int) -> list[Path]:
    from tests.documents.text_samples import scanned_pdf

    rng = random.Random(18)
    made = []
    for n in range(files):
        path = folder / f"scan-{n}.pdf"
        path.write_bytes(scanned_pdf([_words(rng, 8) + "\n" + _words(rng, 8) for _ in range(pages)]))
        made.append(path)
    return made


def run_ocr(args: argparse.Namespace) -> None:
    os.environ.update(base_env(DATABASE_URL=DATABASE_URL))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
    import django

    django.setup()
    from apps.files.extraction import ExtractionLimits, extract_text, ocrmypdf_argv

    print(machine())
    limits = ExtractionLimits(page_timeout=120, document_timeout=600, max_pages=100)
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as folder:
        scans = _scans(Path(folder), args.files, args.pages)
        quill_times, raw_times = [], []
        for scan in scans:
            with tempfile.TemporaryDirectory(dir=folder) as work:
                started = time.perf_counter()
                subprocess.run(
                    ocrmypdf_argv(str(scan), os.path.join(work, "raw.pdf"), languages=["eng"], limits=limits),
                    check=True,
                    capture_output=True,
                )
                raw_times.append(time.perf_counter() - started)
            with tempfile.TemporaryDirectory(dir=folder) as work:
                started = time.perf_counter()
                extract_text(
                    str(scan), "application/pdf", workdir=work, languages=["eng"], limits=limits, ocr_mode="tesseract"
                )
                quill_times.append(time.perf_counter() - started)
    pages = args.files * args.pages
    table = Table("OCR throughput (one at a time)", ["path", "pages", "seconds", "pages/min"])
    table.add("ocrmypdf directly", pages, sum(raw_times), pages / sum(raw_times) * 60)
    table.add("Quill extraction", pages, sum(quill_times), pages / sum(quill_times) * 60)
    table.print()
    print(f"ratio (Quill / ocrmypdf throughput): {sum(raw_times) / sum(quill_times):.2f} (target >= 0.8)")


# --- OCR through a real worker ------------------------------------------------------------------------------


def _tree(root: int) -> list[int]:
    """`root` and every process below it (from /proc)."""
    from harness import _process_table

    table = _process_table()
    found, frontier = [root], [root]
    while frontier:
        parents = set(frontier)
        frontier = [pid for pid, (_, parent, _) in table.items() if parent in parents]
        found.extend(frontier)
    return found


def _rss_kib(pid: int) -> int:
    from harness import proc_status

    try:
        return proc_status(pid).get("VmRSS", 0)
    except OSError:
        return 0


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (ocrmypdf and what it waited for)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu(root: int) -> float:
    """CPU seconds of `root` and its processes, their finished children included (utime..cstime in /proc)."""
    total = 0.0
    for pid in _tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def _text_worker_env(files: Path, queue: str, **extra: str) -> dict[str, str]:
    return base_env(
        DATABASE_URL=DATABASE_URL + "_ocr",
        QUILL_STORAGE="filesystem",
        QUILL_FILES_DIR=str(files),
        QUILL_OCR="tesseract",
        QUILL_CELERY_TEXT_QUEUE=queue,
        QUILL_CELERY_BACKGROUND_QUEUE=f"{queue}-background",
        QUILL_TEXT_MAX_PAGES="10000",
        QUILL_LOG_LEVEL="INFO",
        **extra,
    )


def _forget_queues(queue: str) -> None:
    """The upload's scan and thumbnail messages nobody consumed (the bench queues extraction itself)."""
    import redis
    from harness import REDIS_URL

    redis.Redis.from_url(REDIS_URL).delete("quill-bench", f"{queue}-background")


def _store_scans(paths: list[Path]) -> list[str]:
    """Each file as a clean document whose text is pending (Django set up)."""
    from apps.documents.models import Document
    from tests.documents.helpers import stored_document
    from tests.factories import make_organisation, make_patient, make_user

    organisation = make_organisation(f"OCR Bench Clinic {uuid.uuid4().hex[:6]}")
    user = make_user(organisation, ["clinician"], email=f"bench-{uuid.uuid4().hex[:8]}@bench.test")
    patient = make_patient(organisation)
    ids = []
    for path in paths:
        document = stored_document(user=user, patient=patient, data=path.read_bytes(), filename=path.name)
        ids.append(str(document.pk))
    assert Document.objects.filter(pk__in=ids, text_status="pending").count() == len(ids)
    return ids


def _through_worker(ids: list[str], worker, *, timeout: float, sample=None) -> float:
    """Queue every document's extraction and wait until none is pending; returns the seconds."""
    from apps.documents.models import Document
    from apps.documents.tasks import extract_text
    from quill.queue import enqueue

    started = time.perf_counter()
    for document_id in ids:
        enqueue(extract_text, document_id)
    deadline = time.monotonic() + timeout
    while Document.objects.filter(pk__in=ids, text_status="pending").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"extraction not finished; see {worker.log_path}")
        if sample is not None:
            sample()
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    states = list(Document.objects.filter(pk__in=ids).values_list("text_status", "text_error_code"))
    assert all(state == ("done", "") for state in states), states
    return seconds


def run_ocr_worker(args: argparse.Namespace) -> None:
    """Scans through a real Celery text worker (prefork, --concurrency N) vs `ocrmypdf` directly, N at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.services.celery_worker import CeleryWorker

    files = Path(tempfile.mkdtemp(prefix="bench-ocr-worker-"))
    queue = f"quill-bench-text-{uuid.uuid4().hex[:8]}"
    env = _text_worker_env(files / "store", queue)
    setup_django(env)
    from apps.files.extraction import ExtractionLimits, ocrmypdf_argv

    print(machine(), flush=True)
    scans = _scans(files, args.files, args.pages)
    limits = ExtractionLimits(page_timeout=120, document_timeout=600, max_pages=10_000)
    pages = args.files * args.pages
    table = Table(
        f"OCR throughput: {args.files} scans of {args.pages} page(s), concurrency {args.concurrency}",
        ["round", "path", "seconds", "pages/min", "CPU s/page", "ratio (worker / direct)"],
    )
    ratios, cpu_ratios = [], []
    worker = CeleryWorker(env=env, queues=[queue], pool="prefork", concurrency=args.concurrency)
    with worker, ThreadPoolExecutor(args.concurrency) as threads:
        # Warm the pool processes (Django, the database connection, pypdfium2) outside the measurement.
        _through_worker(_store_scans(scans[: args.concurrency]), worker, timeout=600)

        def direct(scan: Path) -> None:
            with tempfile.TemporaryDirectory(dir=files) as work:
                argv = ocrmypdf_argv(str(scan), os.path.join(work, "out.pdf"), languages=["eng"], limits=limits)
                subprocess.run(argv, check=True, capture_output=True)

        def measure_direct() -> tuple[float, float]:
            cpu, started = _children_cpu(), time.perf_counter()
            list(threads.map(direct, scans))
            return time.perf_counter() - started, _children_cpu() - cpu

        def measure_worker() -> tuple[float, float]:
            ids = _store_scans(scans)
            cpu = _tree_cpu(worker.pid)
            seconds = _through_worker(ids, worker, timeout=1800)
            return seconds, _tree_cpu(worker.pid) - cpu

        for round_ in range(1, args.rounds + 1):
            # direct, worker, worker, direct: a load that drifts during the round weighs on both alike
            d1, w1, w2, d2 = measure_direct(), measure_worker(), measure_worker(), measure_direct()
            direct_seconds, direct_cpu = d1[0] + d2[0], d1[1] + d2[1]
            worker_seconds, worker_cpu = w1[0] + w2[0], w1[1] + w2[1]
            ratios.append(direct_seconds / worker_seconds)
            cpu_ratios.append(direct_cpu / worker_cpu)
            done = 2 * pages
            table.add(
                round_, f"ocrmypdf directly, {args.concurrency} at a time", direct_seconds, done / direct_seconds * 60,
                direct_cpu / done, "",
            )  # fmt: skip
            table.add(
                round_, f"Celery text worker, --concurrency {args.concurrency}", worker_seconds,
                done / worker_seconds * 60, worker_cpu / done, f"{ratios[-1]:.2f} (CPU {cpu_ratios[-1]:.2f})",
            )  # fmt: skip
            print(f"  round {round_}: direct {direct_seconds:.1f} s, worker {worker_seconds:.1f} s", flush=True)
    table.print()
    print(f"load average at the end: {os.getloadavg()}")
    print(f"median ratio (worker / ocrmypdf throughput): {median(ratios):.2f} (target >= 0.8)")
    print(f"median ratio of CPU per page (ocrmypdf / worker): {median(cpu_ratios):.2f}")
    _forget_queues(queue)
    shutil.rmtree(files, ignore_errors=True)


def run_ocr_rss(args: argparse.Namespace) -> None:
    """One long scan through a real text worker: the worker's peak RSS (target < 512 MiB) and its OCR children's."""
    from harness import proc_status

    from tests.documents.text_samples import SCAN_DPI, page_image
    from tests.services.celery_worker import CeleryWorker

    files = Path(tempfile.mkdtemp(prefix="bench-ocr-rss-"))
    queue = f"quill-bench-text-{uuid.uuid4().hex[:8]}"
    env = _text_worker_env(files / "store", queue, QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS="7200")
    setup_django(env)
    print(machine(), flush=True)
    rng = random.Random(18)
    # A4 at the fixtures' 150 DPI (1240 x 1754), a few lines of text on each page.
    images = [
        page_image("\n".join(_words(rng, 6) for _ in range(4)), width=1240, height=1754).convert("RGB")
        for _ in range(args.pages)
    ]
    scan = files / f"scan-{args.pages}-pages.pdf"
    images[0].save(scan, format="PDF", save_all=True, append_images=images[1:], resolution=float(SCAN_DPI))
    del images
    print(f"{scan.name}: {scan.stat().st_size / 1024 / 1024:.1f} MiB", flush=True)
    worker = CeleryWorker(env=env, queues=[queue], pool="prefork", concurrency=1)
    peaks = {"tree": 0, "ocr": 0}
    with worker:
        ids = _store_scans([scan])
        main_pid = worker.pid
        pool = [pid for pid in _tree(main_pid) if pid != main_pid]

        def sample() -> None:
            tree = _tree(main_pid)
            peaks["tree"] = max(peaks["tree"], sum(_rss_kib(pid) for pid in tree))
            peaks["ocr"] = max([peaks["ocr"], *(_rss_kib(pid) for pid in tree if pid != main_pid and pid not in pool)])

        seconds = _through_worker(ids, worker, timeout=7200, sample=sample)
        hwm = {pid: proc_status(pid).get("VmHWM", 0) for pid in [main_pid, *pool]}
        log = worker.log_path.read_text(errors="replace")
    table = Table(
        f"Peak RSS, one {args.pages}-page scan through the text worker", ["process", "peak RSS MiB", "target"]
    )
    table.add("worker main process (VmHWM)", hwm[main_pid] / 1024, "")
    for pid in pool:
        table.add("worker pool process that ran the task (VmHWM)", hwm[pid] / 1024, "< 512")
    table.add("largest OCR child (sampled every 0.2 s)", peaks["ocr"] / 1024, "")
    table.add("whole worker tree, sum (sampled)", peaks["tree"] / 1024, "")
    table.print()
    logged = [line for line in log.splitlines() if "child_peak_rss_kib" in line or "text extracted" in line]
    print("\n".join(logged[-3:]))
    rate = args.pages / seconds * 60
    print(f"{args.pages} pages in {seconds:.0f} s ({rate:.1f} pages/min); load average {os.getloadavg()}")
    _forget_queues(queue)
    shutil.rmtree(files, ignore_errors=True)


# --- reindex ----------------------------------------------------------------------------------------------


def run_reindex(args: argparse.Namespace) -> None:
    url = DATABASE_URL + "_reindex"
    subprocess.run(
        [
            "psql",
            DATABASE_URL.rsplit("/", 1)[0] + "/postgres",
            "-qc",
            f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"',
        ],
        check=True,
    )
    files = Path(tempfile.mkdtemp(prefix="bench-reindex-"))
    setup_django(base_env(DATABASE_URL=url, QUILL_STORAGE="filesystem", QUILL_FILES_DIR=str(files / "store")))
    import io

    from django.core.management import call_command

    from apps.files.extraction import pdf_text_pages
    from tests.documents.helpers import stored_document
    from tests.documents.text_samples import text_pdf
    from tests.factories import make_organisation, make_patient, make_user

    print(machine())
    rng = random.Random(18)
    organisation = make_organisation("Reindex Clinic")
    user = make_user(organisation, ["clinician"], email=f"bench-{uuid.uuid4().hex[:8]}@bench.test")
    patient = make_patient(organisation)
    local = []
    for n in range(args.documents):
        data = text_pdf([_words(rng, 12) + "\n" + _words(rng, 12) for _ in range(rng.randint(1, 3))])
        stored_document(user=user, patient=patient, data=data)
        path = files / f"{n}.pdf"
        path.write_bytes(data)
        local.append(path)
    started = time.perf_counter()
    pages = sum(len(pdf_text_pages(str(path), max_pages=100)) for path in local)
    raw_seconds = time.perf_counter() - started
    out = io.StringIO()
    started = time.perf_counter()
    call_command("reindex_text", "--all", "-v", "0", stdout=out)
    quill_seconds = time.perf_counter() - started
    print(out.getvalue().strip())
    table = Table("reindex (text-layer PDFs)", ["path", "documents", "pages", "seconds", "pages/s"])
    table.add("pypdfium2 alone", len(local), pages, raw_seconds, pages / raw_seconds)
    table.add("reindex_text --all", len(local), pages, quill_seconds, pages / quill_seconds)
    table.print()
    print(f"ratio (reindex_text / pypdfium2 pages per second): {raw_seconds / quill_seconds:.3f}")
    shutil.rmtree(files, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    query = sub.add_parser("query")
    query.add_argument("--small", type=int, default=10_000)
    query.add_argument("--large", type=int, default=1_000_000)
    query.add_argument("--samples", type=int, default=100)
    query.add_argument("--sizes", help="several sizes in one run, e.g. 10000,100000,1000000 (instead of small, large)")
    ocr = sub.add_parser("ocr")
    ocr.add_argument("--files", type=int, default=4)
    ocr.add_argument("--pages", type=int, default=1)
    ocr_worker = sub.add_parser("ocr-worker")
    ocr_worker.add_argument("--files", type=int, default=6)
    ocr_worker.add_argument("--pages", type=int, default=1)
    ocr_worker.add_argument("--concurrency", type=int, default=2)
    ocr_worker.add_argument("--rounds", type=int, default=1)
    ocr_rss = sub.add_parser("ocr-rss")
    ocr_rss.add_argument("--pages", type=int, default=200)
    reindex = sub.add_parser("reindex")
    reindex.add_argument("--documents", type=int, default=200)
    args = parser.parse_args()
    {
        "query": run_query,
        "ocr": run_ocr,
        "ocr-worker": run_ocr_worker,
        "ocr-rss": run_ocr_rss,
        "reindex": run_reindex,
    }[args.part](args)


if __name__ == "__main__":
    sys.exit(main())
