"""Other people's FHIR clients against ``/fhir/r4/``, used as shipped: fhirpy (sync and async) and SMART fhirclient.

Each finds a patient by NHS number, walks every page of their DocumentReferences while a
new document is uploaded between two pages (server-side, just before the second page is
computed), reads one, follows ``attachment.url`` and checks the bytes against the advertised
SHA-1 and size. ``QUILL_PUBLIC_BASE_URL`` is unset, as in development: every link must lead
back to the server that was asked. The last test does the same against a real gunicorn on a
random port and checks every absolute URL Quill hands out.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.db import close_old_connections
from fhirclient import client as smart_client
from fhirclient.models.documentreference import DocumentReference as SmartDocumentReference
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import AsyncFHIRClient, SyncFHIRClient

from apps.accounts.services import api_token_create
from apps.documents.models import Document
from apps.documents.services import UploadRequest, document_upload
from apps.fhir import codes
from apps.files.spooling import spool
from quill.celery import app as celery_app
from tests.documents import samples
from tests.factories import make_patient
from tests.services.gunicorn import Gunicorn

PAGE = 2


@pytest.fixture
def inline_tasks():
    """Run the upload's follow-up tasks inline instead of sending them to the shared Redis broker."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def served(settings, filesystem_storage, inline_tasks, clinician, patient):
    """Five uploaded documents of ``patient``, one of another patient, and a token; links from the request."""
    settings.QUILL_PUBLIC_BASE_URL = ""
    settings.QUILL_FHIR_BASE_URL = ""
    settings.QUILL_SCANNER = "none"
    payloads = {f"Letter {n}": samples.pdf(1 + n % 2, title=f"Letter {n}") for n in range(5)}
    for title, data in payloads.items():
        _upload(clinician, patient, data, title=title)
    _upload(clinician, make_patient(patient.organisation), samples.pdf(1), title="Not this patient")
    _, key = api_token_create(user=clinician, name="client")
    return {"payloads": payloads, "key": key}


def _upload(user, patient, data: bytes, *, title: str) -> Document:
    item = UploadRequest(
        spooled=spool([data], max_bytes=len(data) + 1), filename="letter.pdf", category="letter", title=title
    )
    return document_upload(actor=user, patient=patient, item=item)


@pytest.fixture
def upload_before_second_page(clinician, patient) -> Iterator[list[Document]]:
    """Upload one document for ``patient`` when the first paging request (one with a cursor) arrives."""
    arrived: list[Document] = []

    def upload(sender, environ, **kwargs):
        if arrived or "_cursor=" not in environ.get("QUERY_STRING", ""):
            return
        close_old_connections()
        arrived.append(_upload(clinician, patient, samples.pdf(1, title="Arrived"), title="Arrived between pages"))

    request_started.connect(upload, weak=False)
    yield arrived
    request_started.disconnect(upload)


def _check_download(url: str, key: str, attachment: dict, expected: bytes) -> None:
    download = requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == attachment["contentType"]
    assert len(download.content) == attachment["size"]
    assert base64.b64encode(hashlib.sha1(download.content).digest()).decode() == attachment["hash"]
    assert download.content == expected


@pytest.mark.django_db(transaction=True)
def test_fhirpy_sync_client(live_server, served, patient, upload_before_second_page):
    client = SyncFHIRClient(f"{live_server.url}/fhir/r4", authorization=f"Bearer {served['key']}")

    (found,) = client.resources("Patient").search(identifier=f"{codes.NHS_NUMBER_SYSTEM}|{patient.nhs_number}").fetch()
    documents = client.resources("DocumentReference").search(patient=found.id).limit(PAGE).fetch_all()

    assert upload_before_second_page, "the upload between pages did not happen"
    titles = [document["content"][0]["attachment"]["title"] for document in documents]
    assert sorted(titles) == sorted(served["payloads"])  # every one once; the late arrival is for the next search
    read = client.reference("DocumentReference", documents[-1].id).to_resource()
    attachment = read["content"][0]["attachment"]
    assert urlsplit(attachment["url"]).netloc == urlsplit(live_server.url).netloc
    _check_download(attachment["url"], served["key"], attachment, served["payloads"][attachment["title"]])
    newest_first = client.resources("DocumentReference").search(patient=found.id).sort("-date").limit(PAGE).fetch_all()
    assert newest_first[0]["content"][0]["attachment"]["title"] == "Arrived between pages"


@pytest.mark.django_db(transaction=True)
def test_fhirpy_async_client_walks_pages_in_creation_order(live_server, served, patient, upload_before_second_page):
    async def walk() -> tuple[list, list]:
        client = AsyncFHIRClient(f"{live_server.url}/fhir/r4", authorization=f"Bearer {served['key']}")
        found = await client.resources("Patient").search(identifier=patient.nhs_number).fetch()
        documents = (
            await client.resources("DocumentReference")
            .search(patient=found[0].id)
            .sort("creation")
            .limit(PAGE)
            .fetch_all()
        )
        return found, documents

    # In a thread of its own: Playwright's sync API may already run an event loop in this process.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        found, documents = pool.submit(asyncio.run, walk()).result()

    assert [person.id for person in found] == [str(patient.pk)]
    assert upload_before_second_page
    titles = [document["content"][0]["attachment"]["title"] for document in documents]
    assert sorted(titles) == sorted(served["payloads"])
    assert len({document.id for document in documents}) == len(documents)


@pytest.mark.django_db(transaction=True)
def test_smart_fhirclient_iterates_every_page_on_the_same_server(
    live_server, served, patient, upload_before_second_page
):
    smart = smart_client.FHIRClient(settings={"app_id": "quill-tests", "api_base": f"{live_server.url}/fhir/r4/"})
    smart.server.session.headers["Authorization"] = f"Bearer {served['key']}"
    asked: list[str] = []
    smart.server.session.hooks["response"].append(lambda response, *args, **kwargs: asked.append(response.url))

    (found,) = SmartPatient.where(
        struct={"identifier": f"{codes.NHS_NUMBER_SYSTEM}|{patient.nhs_number}"}
    ).perform_resources_iter(smart.server)
    search = SmartDocumentReference.where(struct={"patient": found.id, "_count": str(PAGE)})
    documents = list(search.perform_resources_iter(smart.server))

    assert upload_before_second_page
    assert sorted(document.content[0].attachment.title for document in documents) == sorted(served["payloads"])
    assert len(asked) == 1 + 3  # the patient search, then three pages of five documents
    assert {urlsplit(url).netloc for url in asked} == {urlsplit(live_server.url).netloc}  # the token went nowhere else
    read = SmartDocumentReference.read(documents[0].id, smart.server)
    attachment = read.content[0].attachment.as_json()
    _check_download(attachment["url"], served["key"], attachment, served["payloads"][attachment["title"]])


# --- A real gunicorn on a random port ------------------------------------------------------------


def _subprocess_database_url() -> str:
    database = django_settings.DATABASES["default"]
    user = database["USER"] or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


def _absolute_urls(body: dict) -> list[str]:
    """Every absolute URL in a resource or Bundle Quill sent."""
    urls = [link["url"] for link in body.get("link", [])]
    for entry in body.get("entry", []):
        urls.append(entry["fullUrl"])
        urls += _absolute_urls(entry["resource"])
    for content in body.get("content", []):
        urls.append(content["attachment"]["url"])
    if body.get("resourceType") == "CapabilityStatement":
        urls.append(body["implementation"]["url"])
    return [url for url in urls if not url.startswith("urn:")]


@pytest.mark.django_db(transaction=True)
def test_every_link_from_a_gunicorn_on_a_random_port_leads_back_to_it(served, filesystem_storage, patient):
    env = {
        "DATABASE_URL": _subprocess_database_url(),
        "QUILL_ENV": "development",
        "QUILL_PUBLIC_BASE_URL": "",
        "QUILL_STORAGE": "filesystem",
        "QUILL_FILES_DIR": str(filesystem_storage),
        "QUILL_SCANNER": "none",
        "QUILL_FHIR_BASE_URL": "",
        "QUILL_LOG_LEVEL": "WARNING",
        "QUILL_DB_CONN_MAX_AGE": "0",
    }
    headers = {"Authorization": f"Bearer {served['key']}"}
    query = {"patient": str(patient.pk), "_count": "2", "_include": "DocumentReference:subject"}
    with Gunicorn(env=env, workers=1, threads=2) as server:
        base = server.base_url
        statement = requests.get(f"{base}/fhir/r4/metadata", timeout=10).json()
        pages = [requests.get(f"{base}/fhir/r4/DocumentReference", query, headers=headers, timeout=10).json()]
        while next_url := next((link["url"] for link in pages[-1]["link"] if link["relation"] == "next"), None):
            pages.append(requests.get(next_url, headers=headers, timeout=10).json())
        urls = _absolute_urls(statement) + [url for page in pages for url in _absolute_urls(page)]

        modes = [entry["search"]["mode"] for page in pages for entry in page["entry"]]
        assert len(pages) == 3 and modes.count("match") == 5 and modes.count("include") == 3
        assert urls and all(url.startswith(f"{base}/fhir/r4") for url in urls), urls
        for url in {url for url in urls if "/Binary/" in url or "/Patient/" in url}:
            assert requests.get(url, headers=headers, timeout=10).status_code == 200, url
