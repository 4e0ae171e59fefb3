"""A missing role is recorded as `role_required` wherever it is refused; older events that say `role` read the same.

Documents once wrote `role` where every other app wrote `role_required`. The audit log is
append-only and hash-chained, so those events keep their spelling; readers take it through
`apps.audit.reasons.denial_reason`.
"""

from __future__ import annotations

import pytest

from apps.audit.actions import Action
from apps.audit.models import AuditEvent
from apps.audit.reasons import denial_reason
from apps.audit.services import audit_denied
from apps.audit.verification import verify_chain
from tests import factories
from tests.documents.helpers import document_row


def _reasons(user) -> list[str]:
    return [event.details["reason"] for event in AuditEvent.objects.filter(action="access.denied", actor_id=user.pk)]


def test_billing_opening_a_clinical_document_is_refused_for_its_role(billing_user, patient, clinician):
    # given a lab report, which billing staff may not see
    lab_report = document_row(patient, clinician, category="lab")
    # when billing asks for it
    response = factories.token_client(billing_user).get(f"/api/documents/{lab_report.pk}/")
    # then it is refused for the role, spelt as every other app spells it
    assert response.status_code == 403
    assert _reasons(billing_user) == ["role_required"]


def test_a_user_whose_roles_allow_no_documents_listing_them_is_refused_for_the_role(organisation):
    # given a user whose roles were all taken away (no role works with documents)
    user = factories.make_user(organisation, ["billing"])
    type(user).objects.filter(pk=user.pk).update(roles=[])
    # when they list documents
    response = factories.token_client(user).get("/api/documents/")
    # then it is refused for the role
    assert response.status_code == 403
    assert _reasons(user) == ["role_required"]


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        ({"reason": "role"}, "role_required"),
        ({"reason": "role_required"}, "role_required"),
        ({"reason": "not_found"}, "not_found"),
        ({}, ""),
        (None, ""),
    ],
    ids=["former-spelling", "current", "other-reason", "no-reason", "no-details"],
)
def test_denial_reason_reads_the_former_spelling_as_the_current_one(details, reason):
    assert denial_reason(details) == reason


def test_an_event_written_with_the_former_spelling_stays_as_written_and_reads_as_role_required(
    clinician, billing_user, patient
):
    # given an event recorded before the spelling was settled (as documents wrote it then)
    old = audit_denied(
        action=Action.ACCESS_DENIED, actor=billing_user, reason="role", patient_id=patient.pk, object_type="document"
    )
    # when the patient's access report is read
    report = factories.signed_in_client(clinician).get(f"/patients/{patient.pk}/access-report/")
    exported = factories.signed_in_client(clinician).get(f"/patients/{patient.pk}/access-report/?format=csv")
    # then it says what the refusal was, in the words used for every other missing role
    assert "Refused: role required" in report.content.decode()
    assert "Refused: role required" in exported.content.decode()
    # and the event itself was not rewritten: the chain still verifies
    old.refresh_from_db()
    assert old.details["reason"] == "role"
    assert verify_chain(str(patient.organisation_id)).ok
