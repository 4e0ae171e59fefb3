"""Portal patient pages: list and search, forms with plain-word errors, patient page, isolation."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.patients.models import Patient
from tests import factories
from tests.audit.helpers import events, only_event


@pytest.fixture
def clinician_client(clinician):
    return factories.signed_in_client(clinician)


def test_list_shows_own_organisation_only_and_records_one_search_event(clinician_client, patient, other_patient):
    # given patients in two organisations
    factories.make_patient(patient.organisation)

    # when the clinician opens the list
    response = clinician_client.get(reverse("patients:list"))

    # then only their organisation's patients are listed, with one list event (not one per row)
    assert response.status_code == 200
    listed = [p.pk for p in response.context["page"].object_list]
    assert patient.pk in listed and other_patient.pk not in listed
    event = only_event("patient.searched")
    assert event.details["result_count"] == 2 and event.patient_id is None
    assert events("patient.viewed") == []


def test_list_is_paginated(clinician_client, organisation):
    for _ in range(30):
        factories.make_patient(organisation)

    first = clinician_client.get(reverse("patients:list"))
    second = clinician_client.get(reverse("patients:list"), {"page": 2})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert b'rel="next"' in first.content


def test_empty_state(clinician_client, organisation):
    response = clinician_client.get(reverse("patients:list"))

    assert response.status_code == 200
    assert b"There are no patients yet" in response.content


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "smi"}, {"Jane Smith", "John Smithson"}),
        ({"q": "JANE"}, {"Jane Smith"}),
        ({"q": "jane smi"}, {"Jane Smith"}),
        ({"nhs_number": "943 476 5919"}, {"Jane Smith"}),
        ({"nhs_number": "9434765919"}, {"Jane Smith"}),
        ({"q": "943 476 5919"}, {"Jane Smith"}),
        ({"date_of_birth": "1980-01-31"}, {"Jane Smith"}),
        ({"date_of_birth": "31/01/1980"}, {"Jane Smith"}),
        ({"q": "31/01/1980"}, {"Jane Smith"}),
        ({"q": "mrn-777"}, {"John Smithson"}),
        ({"q": "nobody"}, set()),
        ({"q": "SMITH, Jane"}, {"Jane Smith"}),
        ({"q": "Smithson,John"}, {"John Smithson"}),
        ({"q": "31 Jan 1980"}, {"Jane Smith"}),
        ({"date_of_birth": "1 June 1975"}, {"John Smithson"}),
    ],
    ids=[
        "partial-family",
        "given-any-case",
        "two-words",
        "nhs-spaces",
        "nhs-plain",
        "nhs-in-box",
        "dob-iso",
        "dob-uk",
        "dob-in-box",
        "mrn",
        "no-match",
        "list-name-format",
        "list-name-no-space",
        "list-date-format",
        "long-month",
    ],
)
def test_search(clinician_client, organisation, params, expected):
    # given two patients
    factories.make_patient(
        organisation,
        given_name="Jane",
        family_name="Smith",
        nhs_number=factories.VALID_NHS_NUMBERS[0],
        date_of_birth=date(1980, 1, 31),
    )
    factories.make_patient(
        organisation, given_name="John", family_name="Smithson", mrn="MRN-777", date_of_birth=date(1975, 6, 1)
    )

    # when searching
    response = clinician_client.get(reverse("patients:list"), params)

    # then
    assert {p.display_name for p in response.context["page"].object_list} == expected
    assert only_event("patient.searched").details["result_count"] == len(expected)


def test_search_with_unreadable_date_explains_and_lists_nobody(clinician_client, patient):
    response = clinician_client.get(reverse("patients:list"), {"q": patient.family_name, "date_of_birth": "31st Jan"})

    assert response.status_code == 200
    assert b"Enter the date of birth as 31/01/1980 or 1980-01-31." in response.content
    assert list(response.context["page"].object_list) == []
    assert b"Nothing was searched" in response.content
    assert only_event("patient.searched").details["result_count"] == 0


def test_create_patient(clinician_client, clinician):
    # when a clinician registers a patient with a spaced NHS number and a UK date
    response = clinician_client.post(
        reverse("patients:new"),
        {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": "10/12/1985",
            "sex": "female",
            "nhs_number": "943 476 5870",
            "mrn": "A1",
        },
    )

    # then it is stored normalised and audited once
    patient = Patient.objects.get(family_name="Lovelace")
    assert response.status_code == 302 and response["Location"] == reverse("patients:detail", args=[patient.pk])
    assert patient.nhs_number == "9434765870" and patient.date_of_birth == date(1985, 12, 10)
    assert patient.organisation_id == clinician.organisation_id
    event = only_event("patient.created")
    assert event.patient_id == patient.pk and event.details["fields"]["nhs_number"]["after"] == "9434765870"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nhs_number", "9434765918", "check digit is wrong"),
        ("nhs_number", "12345", "exactly 10 digits; this one has 5"),
        ("nhs_number", "94347A5919", "only digits"),
        ("date_of_birth", "31/02/1980", "Enter the date of birth as 31/01/1980 or 1980-01-31."),
        ("date_of_birth", "01/01/2999", "Date of birth cannot be in the future."),
        ("given_name", "", "Given name is needed."),
    ],
    ids=["wrong-check-digit", "wrong-length", "letters", "impossible-date", "future-date", "missing-name"],
)
def test_create_form_shows_field_errors_in_plain_words(clinician_client, field, value, message):
    data = {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1985-12-10", "sex": "female"}
    data[field] = value

    response = clinician_client.post(reverse("patients:new"), data)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.encode() in response.content or message.replace("'", "&#x27;").encode() in response.content
    assert not Patient.objects.exists()
    assert events("patient.created") == []


def test_create_duplicate_nhs_number_is_a_field_error(clinician_client, patient):
    data = {"given_name": "Ada", "family_name": "Twin", "date_of_birth": "1985-12-10", "sex": "female"}
    data["nhs_number"] = patient.nhs_number

    response = clinician_client.post(reverse("patients:new"), data)

    assert response.status_code == 400
    assert "already has this NHS number" in response.context["form"].errors["nhs_number"][0]
    assert Patient.objects.count() == 1


def test_edit_records_changed_fields_before_and_after(clinician_client, patient):
    data = {
        "given_name": patient.given_name,
        "family_name": "Newname",
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "nhs_number": patient.nhs_number,
        "mrn": patient.mrn,
    }
    old_family = patient.family_name

    response = clinician_client.post(reverse("patients:edit", args=[patient.pk]), data)

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.family_name == "Newname"
    event = only_event("patient.updated")
    assert event.details["changes"] == {"family_name": {"before": old_family, "after": "Newname"}}


def test_patient_page_records_one_view_and_has_documents_region(clinician_client, clinician, patient):
    response = clinician_client.get(reverse("patients:detail", args=[patient.pk]), HTTP_USER_AGENT="pytest-browser")

    assert response.status_code == 200
    assert patient.nhs_number_display.encode() in response.content
    assert b'id="documents"' in response.content
    event = only_event("patient.viewed")
    assert (event.actor_id, event.patient_id, event.details) == (clinician.pk, patient.pk, {"channel": "portal"})
    assert event.user_agent == "pytest-browser"


@pytest.mark.parametrize(
    "url_name", ["patients:detail", "patients:edit", "patients:access_report", "patients:break_glass"]
)
def test_other_organisations_patient_is_404_and_audited(clinician_client, clinician, other_patient, url_name):
    # when a clinician opens another organisation's patient
    response = clinician_client.get(reverse(url_name, args=[other_patient.pk]))

    # then it is "not found" (no existence leak), the page says nothing about the patient, and it is audited
    assert response.status_code == 404
    assert other_patient.family_name.encode() not in response.content
    denial = only_event("access.denied")
    assert denial.outcome == "denied" and denial.details["reason"] == "not_found"
    assert denial.organisation_id == clinician.organisation_id
    assert denial.patient_id is None and denial.object_id == str(other_patient.pk)
    assert events("patient.viewed") == []


def test_unknown_patient_is_the_same_404(clinician_client):
    response = clinician_client.get(reverse("patients:detail", args=["00000000-0000-0000-0000-000000000000"]))

    assert response.status_code == 404
    assert only_event("access.denied").details["reason"] == "not_found"


def test_other_organisations_edit_post_changes_nothing(clinician_client, other_patient):
    data = {"given_name": "X", "family_name": "Y", "date_of_birth": "1980-01-01", "sex": "male"}

    response = clinician_client.post(reverse("patients:edit", args=[other_patient.pk]), data)

    assert response.status_code == 404
    other_patient.refresh_from_db()
    assert other_patient.family_name != "Y"
    assert events("patient.updated") == []


def test_user_without_roles_gets_403(organisation, patient):
    nobody = factories.make_user(organisation, [])
    client = factories.signed_in_client(nobody)

    listing = client.get(reverse("patients:list"))
    page = client.get(reverse("patients:detail", args=[patient.pk]))

    assert listing.status_code == 403 and page.status_code == 403
    assert [e.details["reason"] for e in events("access.denied")] == ["role_required", "role_required"]


def test_billing_may_read_but_not_create_or_edit(billing_user, patient):
    client = factories.signed_in_client(billing_user)

    assert client.get(reverse("patients:list")).status_code == 200
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 200
    new = {"given_name": "A", "family_name": "B", "date_of_birth": "1980-01-01"}
    create = client.post(reverse("patients:new"), new)
    edit = client.get(reverse("patients:edit", args=[patient.pk]))

    assert create.status_code == 403 and edit.status_code == 403
    assert Patient.objects.count() == 1


def test_anonymous_is_sent_to_sign_in(client, patient):
    response = client.get(reverse("patients:detail", args=[patient.pk]))

    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    assert AuditEvent.objects.filter(action="patient.viewed").count() == 0


def test_access_report_lists_who_viewed_and_changed(clinician_client, clinician, patient, organisation):
    colleague = factories.make_user(organisation, ["clinician"])
    factories.signed_in_client(colleague).get(reverse("patients:detail", args=[patient.pk]))

    response = clinician_client.get(reverse("patients:access_report", args=[patient.pk]))

    assert response.status_code == 200
    assert colleague.full_name.encode() in response.content  # people by name, not sign-in address
    assert b"Viewed the record" in response.content
    assert only_event("patient.access_report.viewed").actor_id == clinician.pk


def test_access_report_is_refused_to_billing(billing_user, patient):
    response = factories.signed_in_client(billing_user).get(reverse("patients:access_report", args=[patient.pk]))

    assert response.status_code == 403
    assert only_event("access.denied").details["reason"] == "role_required"
