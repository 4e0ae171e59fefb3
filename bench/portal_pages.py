"""Portal page timings with the demo data (issue 15: every page under 150 ms p95).

Uses its own database (``<bench database>_pages``, dropped and created afresh) and files in a
temporary folder. ``manage.py seed_demo`` fills it with the demo organisation of ``make run``
(scanner off and Celery eager while seeding, so thumbnails and annotations are made; the
documents are then marked clean, as a scanned clinic's would be), and the second demo clinician
breaks the glass once, so the break-glass log has a row.

gunicorn then serves Quill with one sync worker through ``bench/probe_wsgi.py``, which times
each request inside the worker (from the WSGI call to the last byte of the body) and the audit
appends within it; the worker's CPU time per request (mean, from the kernel's accounting) is
steadier than wall time on a shared machine. The bench signs in through the sign-in form as the
demo clinician, and as the demo administrator with a TOTP code, and requests every page
``--repeat`` times, the pages interleaved round by round so background load hits them alike.
The floor is measured in the same rounds: ``GET /`` while signed in, which passes every
middleware (session loaded and saved, user, OTP, IP allowlist, messages) and answers 302
without work of its own; the ratio is each page's median over the floor's. The plain
``SELECT 1`` round trip to PostgreSQL is printed too.

Queries per request are counted in-process (Django test client, CaptureQueriesContext) after
the timed rounds. ``--profile NAME`` prints a cProfile of one page, in-process, instead.

    .venv/bin/python bench/portal_pages.py [--repeat 50] [--profile "document page"]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

TARGET_P95_MS = 150.0
PAGES_URL = h.DATABASE_URL + "_pages"
WARM_UP = 3
FLOOR = "floor: signed-in / (302)"


@dataclass(frozen=True)
class Page:
    name: str
    who: str  # "clinician" or "administrator"
    path: str
    status: int = 200


@dataclass
class Timing:
    server: list[float]
    client: list[float]
    audit: list[float]
    cpu: float = 0.0  # the worker's CPU seconds over all timed requests (kernel ticks: summed, then averaged)


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def seed(env: dict[str, str]) -> None:
    """Migrate, then `seed_demo` with the scanner off and Celery eager (as `make run` does)."""
    seeding = {**os.environ, **env, "QUILL_SCANNER": "none", "QUILL_CELERY_EAGER": "true"}
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=h.REPO_ROOT, env=seeding, check=True, capture_output=True
        )


def prepare() -> dict[str, str]:
    """Mark the seeded documents clean, give the administrator a TOTP device, break the glass once.
    Returns the ids the pages need (Django set up)."""
    from apps.accounts.models import User
    from apps.documents.models import Document, ScanStatus
    from apps.inbox.models import InboxItem, ItemState
    from apps.letters.models import Letter
    from apps.operations.management.commands.seed_demo import DEMO_PATIENTS, DEMO_USERS
    from apps.patients.models import Patient
    from apps.patients.services import patient_break_glass
    from tests import factories

    Document.objects.filter(scan_status=ScanStatus.NOT_SCANNED).update(scan_status=ScanStatus.CLEAN)
    users = {role: User.objects.get(email=email) for role, email, _ in DEMO_USERS if role != "clinician"}
    clinician, colleague = (User.objects.get(email=email) for role, email, _ in DEMO_USERS[:2])
    factories.totp_device(users["administrator"])
    first, restricted = (Patient.objects.get(nhs_number=fields["nhs_number"]) for fields in DEMO_PATIENTS[:2])
    patient_break_glass(actor=colleague, patient=restricted, reason="Seen in the emergency department tonight")
    summary = Document.objects.get(patient=first, title="Discharge summary")
    final = Letter.objects.filter(patient=first, status="final").order_by("-created_at").first()
    draft = Letter.objects.get(patient=first, status="draft")
    item = InboxItem.objects.filter(organisation=first.organisation, state=ItemState.READY).first()
    assert final is not None and summary.thumbnail_key, "the demo seed did not make what the pages show"
    assert item is not None, "the demo seed took in no inbox item"
    return {
        "inbox_item": str(item.pk),
        "patient": str(first.pk),
        "summary": str(summary.pk),
        "final": str(final.pk),
        "draft": str(draft.pk),
        "clinician_id": str(clinician.pk),
        "administrator_id": str(users["administrator"].pk),
    }


def pages(ids: dict[str, str]) -> list[Page]:
    patient, summary, final, draft = ids["patient"], ids["summary"], ids["final"], ids["draft"]
    return [
        Page(FLOOR, "clinician", "/", 302),
        Page("patient list", "clinician", "/patients/"),
        Page("patient search", "clinician", "/patients/?q=Marwood"),
        Page("patient page", "clinician", f"/patients/{patient}/"),
        Page("patient edit", "clinician", f"/patients/{patient}/edit/"),
        Page("new patient", "clinician", "/patients/new/"),
        Page("patient documents list", "clinician", f"/documents/patient/{patient}/list/"),
        Page("patient photo page", "clinician", f"/documents/patient/{patient}/photo/"),
        Page("upload page", "clinician", f"/documents/patient/{patient}/upload/"),
        Page("bulk upload page", "clinician", f"/documents/patient/{patient}/bulk/"),
        Page("search, patient", "clinician", f"/documents/search/?patient={patient}&q=discharge"),
        Page("search, organisation", "clinician", "/documents/search/?q=discharge"),
        Page("document page", "clinician", f"/documents/{summary}/"),
        Page("document page image", "clinician", f"/documents/{summary}/pages/1.webp"),
        Page("document thumbnail", "clinician", f"/documents/{summary}/thumbnail.webp"),
        Page("letters list", "clinician", f"/letters/patient/{patient}/"),
        Page("letter page, final", "clinician", f"/letters/{final}/"),
        Page("letter page, draft", "clinician", f"/letters/{draft}/"),
        Page("letter edit", "clinician", f"/letters/{draft}/edit/"),
        Page("new letter", "clinician", f"/letters/patient/{patient}/new/"),
        Page("finalise page", "clinician", f"/letters/{draft}/finalise/"),
        Page("letter preview image", "clinician", f"/letters/{draft}/pages/1.webp"),
        Page("access report", "clinician", f"/patients/{patient}/access-report/"),
        Page("access report CSV", "clinician", f"/patients/{patient}/access-report/?format=csv"),
        Page("my reviews", "clinician", "/reviews/"),
        Page("inbox", "clinician", "/inbox/"),
        Page("inbox item", "clinician", f"/inbox/{ids['inbox_item']}/"),
        Page("quarantine", "administrator", "/documents/quarantine/"),
        Page("deleted documents", "administrator", "/documents/deleted/"),
        Page("break-glass log", "administrator", "/audit/break-glass/"),
        Page("overdue reviews", "administrator", "/reviews/overdue/"),
        Page("overdue reviews CSV", "administrator", "/reviews/overdue/?format=csv"),
        Page("admin index", "administrator", "/admin/"),
        Page("admin audit events", "administrator", "/admin/audit/auditevent/"),
    ]


# --- signing in ------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _post_form(session: requests.Session, url: str, fields: dict[str, str]) -> requests.Response:
    form = session.get(url, timeout=60)
    token = _CSRF.search(form.text)
    assert token, f"no CSRF token on {url}"
    return session.post(url, data={**fields, "csrfmiddlewaretoken": token.group(1)}, timeout=60)


def sign_in(base_url: str, email: str, password: str, *, totp_user_id: str = "") -> requests.Session:
    """A browser-like session through the sign-in form (and the code page, for a TOTP user)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.factories import current_totp_code

    session = requests.Session()
    answer = _post_form(session, f"{base_url}/accounts/sign-in/", {"username": email, "password": password})
    if totp_user_id:
        device = TOTPDevice.objects.get(user_id=totp_user_id, confirmed=True)
        answer = _post_form(session, answer.url, {"code": current_totp_code(device)})
    assert answer.url.endswith("/patients/"), f"signing in as {email} ended on {answer.url}"
    return session


# --- measuring -------------------------------------------------------------------------------------


def read_probe(directory: Path, expected: int) -> list[tuple[float, float, str]]:
    """The worker's new probe lines (request s, audit s, path), once all `expected` are written."""
    logs = list(directory.glob("*.log"))
    deadline = time.monotonic() + 10
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for log in logs for line in log.read_text().splitlines()]
        if len(lines) >= expected:
            break
        time.sleep(0.01)
        logs = list(directory.glob("*.log"))
    for log in logs:
        log.unlink()
    assert len(lines) == expected, f"probe wrote {len(lines)} lines for {expected} requests"
    rows = []
    for line in lines:
        request, audit, _method, path = line.split(" ", 3)
        rows.append((float(request), float(audit), path))
    return rows


def worker_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/<pid>/stat, in clock ticks)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_round(
    sessions: dict[str, requests.Session], base_url: str, plan: list[Page], worker: int
) -> list[tuple[float, float]]:
    """Each page once, in order: (client-side seconds, worker CPU seconds) of each."""
    measured = []
    for page in plan:
        cpu = worker_cpu(worker)
        started = time.perf_counter()
        response = sessions[page.who].get(f"{base_url}{page.path}", allow_redirects=False, timeout=120)
        measured.append((time.perf_counter() - started, worker_cpu(worker) - cpu))
        if response.status_code != page.status:
            raise SystemExit(f"{page.name}: {page.path} answered {response.status_code}, expected {page.status}")
    return measured


def measure(
    base_url: str, worker: int, plan: list[Page], ids: dict[str, str], repeat: int, probe_dir: Path
) -> dict[str, Timing]:
    from apps.operations.management.commands.seed_demo import DEMO_USERS, credentials_path, load_credentials

    credentials = load_credentials(credentials_path())
    email = {role: email for role, email, _ in DEMO_USERS if role != "clinician"}
    email["clinician"] = DEMO_USERS[0][1]
    sessions = {
        "clinician": sign_in(base_url, email["clinician"], credentials[email["clinician"]]),
        "administrator": sign_in(
            base_url, email["administrator"], credentials[email["administrator"]], totp_user_id=ids["administrator_id"]
        ),
    }
    for _ in range(WARM_UP):
        run_round(sessions, base_url, plan, worker)
    for log in probe_dir.glob("*.log"):
        log.unlink()
    timings = {page.name: Timing([], [], []) for page in plan}
    for _ in range(repeat):
        client = run_round(sessions, base_url, plan, worker)
        probe = read_probe(probe_dir, len(plan))
        for page, (seconds, cpu), (server, audit, path) in zip(plan, client, probe, strict=True):
            assert page.path.split("?")[0] == path, (page.path, path)
            timing = timings[page.name]
            timing.server.append(server)
            timing.client.append(seconds)
            timing.audit.append(audit)
            timing.cpu += cpu
    return timings


def select_one_ms(samples: int = 200) -> float:
    """Median round trip of `SELECT 1` on a Django connection to the same database."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - started)
    return 1000 * h.median(times)


def _in_process_client(user_id: str):
    from apps.accounts.models import User
    from tests.factories import signed_in_client

    return signed_in_client(User.objects.get(pk=user_id))


def query_counts(plan: list[Page], ids: dict[str, str]) -> dict[str, int]:
    """Queries per request of each page (Django test client, in this process)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clients = {who: _in_process_client(ids[f"{who}_id"]) for who in ("clinician", "administrator")}
    counts = {}
    for page in plan:
        client = clients[page.who]
        client.get(page.path)  # the same state as the timed requests: not the first visit
        with CaptureQueriesContext(connection) as context:
            response = client.get(page.path)
        assert response.status_code == page.status, (page.path, response.status_code)
        counts[page.name] = len(context.captured_queries)
    return counts


def profile(plan: list[Page], ids: dict[str, str], name: str) -> None:
    page = next((page for page in plan if page.name == name), None)
    if page is None:
        raise SystemExit(f"no page named {name!r}; pages: {', '.join(p.name for p in plan)}")
    client = _in_process_client(ids[f"{page.who}_id"])
    client.get(page.path)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        client.get(page.path)
    profiler.disable()
    print(f"cProfile of 20 requests of {name} ({page.path}), in-process:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def report(plan: list[Page], timings: dict[str, Timing], counts: dict[str, int], select_ms: float) -> bool:
    floor = 1000 * h.median(timings[FLOOR].server)
    table = h.Table(
        f"Portal pages with the demo data: server time in the worker, ms (floor median {floor:.1f} ms)",
        [
            "page",
            "count",
            "median",
            "p95",
            "max",
            "worker CPU",
            "client median",
            "audit median",
            "queries",
            "× floor",
            "p95 target",
        ],
    )
    all_met = True
    for page in plan:
        timing = timings[page.name]
        server = [1000 * s for s in timing.server]
        p95 = h.percentile(server, 0.95)
        met = p95 <= TARGET_P95_MS
        all_met = all_met and met
        table.add(
            page.name,
            len(server),
            h.median(server),
            p95,
            max(server),
            1000 * timing.cpu / len(server),
            1000 * h.median(timing.client),
            1000 * h.median(timing.audit),
            counts[page.name],
            h.median(server) / floor,
            h.verdict(p95, TARGET_P95_MS),
        )
    table.print()
    print(f"raw PostgreSQL round trip (`SELECT 1`, this process's connection): median {select_ms:.3f} ms")
    return all_met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="timed requests of each page (default 50)")
    parser.add_argument("--profile", metavar="NAME", help="profile one page in-process instead of timing")
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="quill-pages-") as workdir:
        work = Path(workdir)
        probe_dir = work / "probe"
        probe_dir.mkdir()
        env = h.base_env(
            DATABASE_URL=PAGES_URL,
            QUILL_STORAGE="filesystem",
            QUILL_FILES_DIR=str(work / "files"),
            QUILL_VAR_DIR=str(work / "var"),
        )
        print(h.machine(), flush=True)
        recreate_database(PAGES_URL)
        started = time.monotonic()
        seed(env)
        print(f"demo data seeded in {time.monotonic() - started:.0f} s", flush=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quill.settings")
        import django

        django.setup()
        ids = prepare()
        plan = pages(ids)
        if args.profile:
            profile(plan, ids, args.profile)
            return
        server_env = {**env, "BENCH_AUDIT": "time", "BENCH_PROBE_DIR": str(probe_dir)}
        with h.Gunicorn(
            server_env,
            workers=1,
            app="probe_wsgi:application",
            extra_args=["--pythonpath", str(Path(__file__).parent)],
        ) as server:
            timings = measure(server.base_url, server.worker_pids()[0], plan, ids, args.repeat, probe_dir)
        counts = query_counts(plan, ids)
        all_met = report(plan, timings, counts, select_one_ms())
        if args.json:
            samples = {name: timing.__dict__ for name, timing in timings.items()}
            args.json.write_text(json.dumps({"samples": samples, "queries": counts}, indent=1))
    if not all_met:
        raise SystemExit(1)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(took {time.monotonic() - started:.0f} s)")
