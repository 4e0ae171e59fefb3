import pytest

from apps.audit.models import AuditEvent
from apps.documents.models import Document
from apps.letters.models import Letter, LetterStatus
from tests import factories

from .helpers import denials, events, pdf_text_of

pytestmark = pytest.mark.django_db

NEW_LETTER = {
    "recipient_name": "Dr J Smith",
    "recipient_role": "General Practitioner",
    "subject": "Follow-up <b>knee</b>",
    "body": "Seen today.\n\n- Continue exercises",
    "clinical_date": "2024-05-01",
}


@pytest.fixture
def api(clinician):
    return factories.token_client(clinician)


def _letters_url(patient_id) -> str:
    return f"/api/patients/{patient_id}/letters/"


def test_create_list_read_and_patch_a_draft(api, patient):
    created = api.post(_letters_url(patient.pk), NEW_LETTER, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["subject"], body["patient"]) == ("draft", "Follow-up <b>knee</b>", str(patient.pk))
    listed = api.get(_letters_url(patient.pk)).json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]
    patched = api.patch(f"/api/letters/{body['id']}/", {"body": "Seen today. Better."}, format="json")
    assert patched.status_code == 200
    assert api.get(f"/api/letters/{body['id']}/").json()["body"] == "Seen today. Better."
    assert len(events("letter.created")) == 1
    assert len(events("letter.updated")) == 1


def test_patch_refuses_fields_that_are_not_editable(api, draft):
    response = api.patch(f"/api/letters/{draft.pk}/", {"status": "final", "subject": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"]["error_code"] == "unknown_field"
    assert "status" in response.json()["detail"]["fields"]
    draft.refresh_from_db()
    assert (draft.status, draft.subject) == ("draft", "Knee pain follow-up")


def test_finalise_then_patch_is_409_letter_final(api, draft, patient, document_files):
    finalised = api.post(f"/api/letters/{draft.pk}/finalise/")

    assert finalised.status_code == 200, finalised.json()
    assert finalised.json()["status"] == "final"
    document = Document.objects.get(pk=finalised.json()["document"])
    text = pdf_text_of(document)
    assert patient.display_name in text and "Knee pain follow-up" in text and "The knee is improving." in text

    refused = api.patch(f"/api/letters/{draft.pk}/", {"body": "Changed after the fact"}, format="json")

    assert refused.status_code == 409
    assert refused.json() == {"detail": {"message": refused.json()["detail"]["message"], "error_code": "letter_final"}}
    assert Letter.objects.get(pk=draft.pk).body.startswith("# Assessment")
    assert events("letter.updated") == []
    assert len(events("letter.finalised")) == 1


def test_finalise_an_incomplete_draft_is_400_with_the_fields(api, clinician, patient, document_files):
    letter = api.post(_letters_url(patient.pk), {"subject": "Only a subject"}, format="json").json()

    response = api.post(f"/api/letters/{letter['id']}/finalise/")

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error_code"] == "letter_incomplete"
    assert set(detail["fields"]) == {"body", "recipient_name"}
    assert Letter.objects.get(pk=letter["id"]).status == LetterStatus.DRAFT
    assert not Document.objects.exists()


def test_amend_creates_then_reuses_the_draft(api, write_final, patient):
    original = write_final(patient)

    first = api.post(f"/api/letters/{original.pk}/amend/")
    second = api.post(f"/api/letters/{original.pk}/amend/")

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["amends"] == str(original.pk)


def test_amend_a_draft_is_409(api, draft):
    response = api.post(f"/api/letters/{draft.pk}/amend/")

    assert response.status_code == 409
    assert response.json()["detail"]["error_code"] == "letter_not_final"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/api/letters/{letter}/", None),
        ("patch", "/api/letters/{letter}/", {"body": "intruder"}),
        ("post", "/api/letters/{letter}/finalise/", None),
        ("post", "/api/letters/{letter}/amend/", None),
        ("get", "/api/patients/{patient}/letters/", None),
        ("post", "/api/patients/{patient}/letters/", {"subject": "intruder"}),
    ],
    ids=["read", "patch", "finalise", "amend", "list", "create"],
)
def test_another_organisation_gets_404_and_changes_nothing(other_clinician, draft, patient, method, path, payload):
    client = factories.token_client(other_clinician)
    url = path.format(letter=draft.pk, patient=patient.pk)

    response = getattr(client, method)(url, payload, format="json") if payload else getattr(client, method)(url)

    assert response.status_code == 404
    assert response.json()["detail"]["error_code"] == "not_found"
    assert Letter.objects.count() == 1
    draft.refresh_from_db()
    assert (draft.status, draft.body.startswith("# Assessment")) == ("draft", True)
    assert len(denials(actor_id=other_clinician.pk)) == 1


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/api/letters/{letter}/", None),
        ("patch", "/api/letters/{letter}/", {"body": "billing edit"}),
        ("post", "/api/letters/{letter}/finalise/", None),
        ("post", "/api/letters/{letter}/amend/", None),
        ("get", "/api/patients/{patient}/letters/", None),
        ("post", "/api/patients/{patient}/letters/", {"subject": "billing letter"}),
    ],
    ids=["read", "patch", "finalise", "amend", "list", "create"],
)
def test_billing_gets_403_audited_once(billing_user, draft, patient, document_files, method, path, payload):
    client = factories.token_client(billing_user)
    url = path.format(letter=draft.pk, patient=patient.pk)

    response = getattr(client, method)(url, payload, format="json") if payload else getattr(client, method)(url)

    assert response.status_code == 403
    assert response.json()["detail"]["error_code"] == "permission_denied"
    assert Letter.objects.count() == 1
    assert Letter.objects.get(pk=draft.pk).status == "draft"
    assert not Document.objects.exists()
    assert len(denials(actor_id=billing_user.pk)) == 1


def test_administrator_without_clinician_role_may_read_but_not_write(organisation, draft):
    administrator = factories.make_user(organisation, ["administrator"])
    client = factories.token_client(administrator)

    assert client.get(f"/api/letters/{draft.pk}/").status_code == 200
    response = client.patch(f"/api/letters/{draft.pk}/", {"body": "admin edit"}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"]["error_code"] == "clinician_required"
    assert len(denials(actor_id=administrator.pk)) == 1


def test_every_action_is_audited_once(api, clinician, patient, document_files):
    letter_id = api.post(_letters_url(patient.pk), NEW_LETTER, format="json").json()["id"]
    api.patch(f"/api/letters/{letter_id}/", {"body": "Seen today, improving."}, format="json")
    api.post(f"/api/letters/{letter_id}/finalise/")
    amendment_id = api.post(f"/api/letters/{letter_id}/amend/").json()["id"]
    api.get(f"/api/letters/{letter_id}/")

    letter_events = AuditEvent.objects.filter(action__startswith="letter.").order_by("sequence")
    assert [(e.action, e.object_id) for e in letter_events] == [
        ("letter.created", letter_id),
        ("letter.updated", letter_id),
        ("letter.finalised", letter_id),
        ("letter.created", amendment_id),
        ("letter.viewed", letter_id),
    ]
    assert all(e.actor_id == clinician.pk and e.patient_id == patient.pk for e in letter_events)
