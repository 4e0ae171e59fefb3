"""Signed download links: checked again at every use, against the document and whoever asked for the link."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create, api_token_revoke
from apps.audit.models import AuditEvent
from apps.documents.models import Document, ScanStatus
from apps.documents.services import document_soft_delete
from tests import factories
from tests.documents import samples
from tests.documents.helpers import stored_document

pytestmark = pytest.mark.django_db


PDF = samples.pdf()


@pytest.fixture
def document(filesystem_storage, clinician, patient):
    return stored_document(user=clinician, patient=patient, data=PDF, title="Discharge summary")


def _issued_by_token(user, document) -> tuple[str, ApiToken]:
    token, key = api_token_create(user=user, name="integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    answer = client.get(f"/api/documents/{document.pk}/download-url")
    assert answer.status_code == 200
    return answer.json()["url"].split("testserver", 1)[1], token


def _issued_in_session(user, document) -> str:
    answer = factories.signed_in_client(user).get(f"/api/documents/{document.pk}/download-url")
    assert answer.status_code == 200
    return answer.json()["url"].split("testserver", 1)[1]


def _use(path: str):
    return APIClient().get(path)


def _refusals(document) -> list[dict]:
    return list(
        AuditEvent.objects.filter(action="access.denied", object_id=str(document.pk)).values_list("details", flat=True)
    )


def test_a_link_serves_the_bytes_and_each_use_is_audited_for_its_issuer(clinician, document):
    path, _ = _issued_by_token(clinician, document)
    for _ in range(2):
        used = _use(path)
        assert used.status_code == 200
        assert b"".join(used.streaming_content) == PDF
    uses = AuditEvent.objects.filter(action="document.link_used", object_id=str(document.pk))
    assert uses.count() == 2
    assert {(event.actor_id, str(event.patient_id)) for event in uses} == {(clinician.pk, str(document.patient_id))}


def test_a_link_stops_serving_a_document_deleted_after_it_was_issued(clinician, administrator, document):
    path, _ = _issued_by_token(clinician, document)
    document_soft_delete(actor=administrator, document=document, reason="filed against the wrong patient")
    used = _use(path)
    assert used.status_code == 404
    assert used.json()["detail"]["error_code"] == "not_found"
    assert not AuditEvent.objects.filter(action="document.link_used").exists()


def test_a_link_stops_serving_a_document_quarantined_after_it_was_issued(clinician, document):
    path, _ = _issued_by_token(clinician, document)
    Document.objects.filter(pk=document.pk).update(scan_status=ScanStatus.INFECTED)
    used = _use(path)
    assert used.status_code == 409
    assert used.json()["detail"]["error_code"] == "quarantined"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param(
            lambda token, user: api_token_revoke(token=token, actor=None), "api_token_unusable", id="token-revoked"
        ),
        pytest.param(
            lambda token, user: ApiToken.objects.filter(pk=token.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            ),
            "api_token_unusable",
            id="token-expired",
        ),
        pytest.param(
            lambda token, user: type(user).objects.filter(pk=user.pk).update(is_active=False),
            "user_inactive",
            id="user-deactivated",
        ),
    ],
)
def test_a_link_dies_with_the_standing_of_the_token_or_user_that_asked_for_it(clinician, document, change, why):
    path, token = _issued_by_token(clinician, document)
    change(token, clinician)
    used = _use(path)
    assert used.status_code == 403
    assert used.json()["detail"]["error_code"] == "link_revoked"
    [refusal] = _refusals(document)
    assert (refusal["reason"], refusal["attempted"], refusal["why"]) == ("link_revoked", "document.link_used", why)
    assert not AuditEvent.objects.filter(action="document.link_used").exists()


def test_a_session_link_dies_when_its_user_signs_out_everywhere(clinician, document):
    path = _issued_in_session(clinician, document)
    assert _use(path).status_code == 200
    clinician.session_generation += 1
    clinician.save(update_fields=["session_generation"])
    used = _use(path)
    assert used.status_code == 403
    assert used.json()["detail"]["error_code"] == "link_revoked"
    assert _refusals(document)[0]["why"] == "signed_out_everywhere"


def test_a_link_follows_its_issuers_role_now(clinician, document):
    path, _ = _issued_by_token(clinician, document)
    type(clinician).objects.filter(pk=clinician.pk).update(roles=["billing"])  # billing sees insurance only
    used = _use(path)
    assert used.status_code == 403
    assert used.json()["detail"]["error_code"] == "permission_denied"
    assert _refusals(document)[0]["reason"] == "role_required"


def test_a_link_stops_when_its_issuer_leaves_the_organisation(clinician, other_organisation, document):
    path = _issued_in_session(clinician, document)
    type(clinician).objects.filter(pk=clinician.pk).update(organisation=other_organisation)
    used = _use(path)
    assert used.status_code == 404
    assert used.json()["detail"]["error_code"] == "not_found"


def test_an_altered_link_is_refused_and_audited(clinician, document):
    path = _issued_in_session(clinician, document)
    used = _use(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert used.status_code == 403
    assert used.json()["detail"]["error_code"] == "link_invalid"
    assert AuditEvent.objects.filter(action="access.denied", details__reason="link_invalid").count() == 1


def test_presigned_s3_urls_last_five_minutes_by_default(s3_storage, clinician, patient):
    document = stored_document(user=clinician, patient=patient, data=samples.pdf())
    answer = factories.token_client(clinician).get(f"/api/documents/{document.pk}/download-url")
    assert answer.status_code == 200
    assert parse_qs(urlsplit(answer.json()["url"]).query)["X-Amz-Expires"] == ["300"]
