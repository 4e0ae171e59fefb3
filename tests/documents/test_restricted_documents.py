"""Restricted records in the organisation-wide document list (no patient chosen, so no patient check first).

Documents are model rows (no bytes behind them); the list is read through the API.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.patients.models import BreakGlassAccess, CareTeamMember
from tests.documents.helpers import document_row
from tests.factories import make_patient, make_user, token_client

ORGANISATION_WIDE = {"category": "lab", "date_from": "2024-01-01"}


def _listed(user, **params) -> tuple[int, set[str]]:
    response = token_client(user).get("/api/documents/", params)
    assert response.status_code == 200, response.content
    body = response.json()
    return body["count"], {row["id"] for row in body["results"]}


def _care_team(patient, user) -> None:
    CareTeamMember.objects.create(patient=patient, user=user)


def _live_grant(patient, user) -> None:
    BreakGlassAccess.objects.create(
        patient=patient, user=user, reason="Seen in A&E", expires_at=timezone.now() + timedelta(minutes=30)
    )


def _expired_grant(patient, user) -> None:
    BreakGlassAccess.objects.create(
        patient=patient,
        user=user,
        reason="Seen in A&E",
        granted_at=timezone.now() - timedelta(minutes=61),
        expires_at=timezone.now() - timedelta(minutes=1),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("restricted", "opening", "opened_for", "visible"),
    [
        (False, None, None, True),
        (True, None, None, False),
        (True, _care_team, "clinician", True),
        (True, _live_grant, "clinician", True),
        (True, _expired_grant, "clinician", False),
        (True, _care_team, "colleague", False),
        (True, _live_grant, "colleague", False),
    ],
    ids=[
        "unrestricted",
        "restricted",
        "care-team",
        "live-grant",
        "expired-grant",
        "colleagues-care-team",
        "colleagues-live-grant",
    ],
)
def test_the_list_shows_a_restricted_patients_documents_only_to_whom_the_record_is_open(
    clinician, organisation, restricted, opening, opened_for, visible
):
    # given a document of the patient in question, and one of an ordinary patient alongside
    colleague = make_user(organisation, ["clinician"], email="colleague@example.test")
    patient = make_patient(organisation, restricted=restricted)
    if opening:
        opening(patient, {"clinician": clinician, "colleague": colleague}[opened_for])
    document = document_row(patient, colleague)
    ordinary = document_row(make_patient(organisation), colleague)

    # when the clinician lists lab results
    count, ids = _listed(clinician, **ORGANISATION_WIDE)

    # then the count and the page agree on exactly what is open to them
    expected = {str(document.pk), str(ordinary.pk)} if visible else {str(ordinary.pk)}
    assert ids == expected
    assert count == len(expected)


@pytest.mark.django_db
def test_a_grant_that_expires_closes_the_organisation_wide_list_again(clinician, organisation):
    # given a restricted patient's document, opened by a live grant
    patient = make_patient(organisation, restricted=True)
    document = document_row(patient, clinician)
    _live_grant(patient, clinician)
    assert _listed(clinician, **ORGANISATION_WIDE) == (1, {str(document.pk)})

    # when the grant runs out
    BreakGlassAccess.objects.filter(patient=patient).update(expires_at=timezone.now() - timedelta(seconds=1))

    # then the document is gone from the list
    assert _listed(clinician, **ORGANISATION_WIDE) == (0, set())


@pytest.mark.django_db
def test_the_organisation_wide_count_does_not_join_patients(clinician, organisation):
    # given documents of an ordinary and of a restricted patient
    document_row(make_patient(organisation), clinician)
    document_row(make_patient(organisation, restricted=True), clinician)

    # when the organisation-wide list is counted
    with CaptureQueriesContext(connection) as context:
        count, _ = _listed(clinician, **ORGANISATION_WIDE)

    # then the restricted rule is a subquery on the few restricted patients, not a join of every patient
    (count_sql,) = [
        q["sql"]
        for q in context.captured_queries
        if q["sql"].startswith('SELECT COUNT(*) AS "__count" FROM "documents_document"')
    ]
    assert count == 1
    assert "JOIN" not in count_sql
