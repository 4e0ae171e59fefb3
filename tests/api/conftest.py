"""A live Quill for the API's contract tests: gunicorn, a Celery worker, clamd, SeaweedFS S3, PostgreSQL, Redis.

`live_quill` (one per module) starts them on the pytest-django test database with data made
through the real services: an organisation with a user of every role (and one who holds them
all), their API tokens, patients (one restricted), clean documents, letters (a draft and a
final one) and an annotation; and a second organisation with its own clinician and records.
Rows are committed (gunicorn must see them), so the database is emptied again at the end.

The records' ids and the tokens are chosen when this module is imported (`IDS`, `TOKENS`), so a
schemathesis schema built at collection can already name them.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from apps.accounts.services import TOKEN_PREFIX, api_token_create
from apps.documents.models import Annotation
from apps.documents.services.annotations import annotation_create
from apps.letters.models import Letter
from apps.letters.services import letter_create, letter_finalise
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document
from tests.faults.conftest import broker_env, quill_env
from tests.services.celery_worker import CeleryWorker
from tests.services.gunicorn import Gunicorn
from tests.services.seaweedfs import SeaweedS3
from tests.services.storage import s3_settings

WHO = ("all_roles", "clinician", "billing", "administrator", "owner", "other_organisation")
TOKENS = {who: TOKEN_PREFIX + secrets.token_urlsafe(32) for who in WHO}
RECORDS = (
    "patient",
    "restricted_patient",
    "document",
    "insurance_document",
    "photo_document",
    "annotation",
    "draft_letter",
    "final_letter",
    "other_patient",
    "other_document",
    "other_letter",
)
IDS = {name: str(uuid.uuid4()) for name in RECORDS}


def auth_headers(who: str) -> dict[str, str]:
    return {"Authorization": f"Token {TOKENS[who]}"}


@contextlib.contextmanager
def _next_id(model: type, name: str) -> Iterator[None]:
    """The next row of `model` made by a service gets IDS[name] as its primary key."""
    pk = model._meta.pk
    default = pk.default
    pk.default = lambda: uuid.UUID(IDS[name])
    pk.__dict__.pop("_get_default", None)  # Field caches its default callable
    try:
        yield
    finally:
        pk.default = default
        pk.__dict__.pop("_get_default", None)


def _token(user, who: str) -> None:
    """The user's API token, made by the service, with the key chosen for `who`."""
    with mock.patch("apps.accounts.services.secrets.token_urlsafe", return_value=TOKENS[who][len(TOKEN_PREFIX) :]):
        api_token_create(user=user, name="contract tests")


@dataclass
class LiveQuill:
    base_url: str
    s3: SeaweedS3


LETTER = {
    "recipient_name": "Dr Ada Example",
    "recipient_role": "General practitioner",
    "recipient_address": "1 Example Street\nExampletown",
    "subject": "Knee clinic",
    "body": "Seen today in clinic. **Plan**: physiotherapy.",
    "clinical_date": date(2024, 3, 5),
}


def _make_records(s3: SeaweedS3) -> dict[str, object]:
    """The users (by who they are) and the records named in IDS; documents go to SeaweedFS."""
    organisation = factories.make_organisation("Contract Clinic")
    users = {
        "all_roles": factories.make_user(organisation, ["clinician", "owner"]),
        "clinician": factories.make_user(organisation, ["clinician"]),
        "billing": factories.make_user(organisation, ["billing"]),
        "administrator": factories.make_user(organisation, ["administrator"]),
        "owner": factories.make_user(organisation, ["owner"]),
    }
    author = users["all_roles"]
    patient = factories.make_patient(organisation, id=IDS["patient"], nhs_number=factories.VALID_NHS_NUMBERS[2])
    factories.make_patient(
        organisation, id=IDS["restricted_patient"], nhs_number=factories.VALID_NHS_NUMBERS[3], restricted=True
    )
    other_organisation = factories.make_organisation("Elsewhere Clinic")
    users["other_organisation"] = factories.make_user(other_organisation, ["clinician", "owner"])
    other_patient = factories.make_patient(
        other_organisation, id=IDS["other_patient"], nhs_number=factories.VALID_NHS_NUMBERS[4]
    )
    with override_settings(**s3_settings(s3)):
        report = stored_document(
            user=author, patient=patient, data=samples.pdf(), title="Bloods", document_id=uuid.UUID(IDS["document"])
        )
        stored_document(
            user=author,
            patient=patient,
            data=samples.pdf(title="Claim"),
            category="insurance",
            title="Claim form",
            document_id=uuid.UUID(IDS["insurance_document"]),
        )
        stored_document(
            user=author,
            patient=patient,
            data=samples.png(),
            filename="wound.png",
            category="photo",
            title="Wound",
            document_id=uuid.UUID(IDS["photo_document"]),
        )
        stored_document(
            user=users["other_organisation"],
            patient=other_patient,
            data=samples.pdf(),
            title="Elsewhere",
            document_id=uuid.UUID(IDS["other_document"]),
        )
        with _next_id(Annotation, "annotation"):
            annotation_create(actor=author, document=report, kind="marker", page=1, geometry={"x": 0.5, "y": 0.5})
        with _next_id(Letter, "draft_letter"):
            letter_create(actor=author, patient=patient, **LETTER)
        with _next_id(Letter, "final_letter"):
            final = letter_create(actor=author, patient=patient, **LETTER)
        letter_finalise(actor=author, letter=final)
        with _next_id(Letter, "other_letter"):
            letter_create(actor=users["other_organisation"], patient=other_patient, **LETTER)
    for who, user in users.items():
        _token(user, who)
    return users


def _empty_database() -> None:
    """What a transactional test's teardown does, audit trail included (its trigger refuses deletes)."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        try:
            cursor.execute("TRUNCATE audit_auditevent")
        finally:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def live_quill(django_db_setup, django_db_blocker, clamd_server, s3_server, redis_url) -> Iterator[LiveQuill]:
    env = quill_env(
        **s3_server.settings_env(),
        **broker_env(redis_url),
        QUILL_SCANNER="clamd",
        QUILL_CLAMD_SOCKET=str(clamd_server.socket_path),
        QUILL_API_THROTTLE_RATE="100000/minute",
    )
    worker = CeleryWorker(env=env, queues=None)
    web = Gunicorn(env=env, workers=2, threads=4)
    try:
        with django_db_blocker.unblock():
            _make_records(s3_server)
        worker.start()
        web.start()
        yield LiveQuill(base_url=web.base_url, s3=s3_server)
    finally:
        web.close()
        worker.close()
        with django_db_blocker.unblock():
            _empty_database()
