"""MHD settings in the admin: an organisation's administrator sees and sets its own, nothing of another's."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.fhir.models import MhdSettings
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:fhir_mhdsettings_changelist")
ADD = reverse("admin:fhir_mhdsettings_add")


def _change(organisation) -> str:
    return reverse("admin:fhir_mhdsettings_change", args=[organisation.pk])


def _form(organisation, **changes) -> dict[str, str]:
    form = {
        "organisation": str(organisation.pk),
        "confidentiality": "R",
        "language": "cy-GB",
        "facility_type_system": "http://snomed.info/sct",
        "facility_type_code": "22232009",
        "facility_type_display": "Hospital",
        "practice_setting_system": "http://snomed.info/sct",
        "practice_setting_code": "394585009",
        "practice_setting_display": "Obstetrics and gynaecology",
    }
    form.update(changes)
    return form


@pytest.fixture
def theirs(other_organisation):
    """Another organisation's settings, with a name that must never show to our administrator."""
    return MhdSettings.objects.create(
        organisation=other_organisation, facility_type_display="Elsewhere Birth Centre", language="fr-FR"
    )


@pytest.fixture
def admin_client(administrator):
    return factories.signed_in_client(administrator)


def test_an_administrator_lists_only_their_own_organisations_settings(admin_client, organisation, theirs):
    MhdSettings.objects.create(organisation=organisation, facility_type_display="Ourside Day Unit")

    body = admin_client.get(CHANGELIST).content.decode()

    assert "Ourside Day Unit" in body
    assert "Elsewhere Birth Centre" not in body and theirs.organisation.name not in body


def test_another_organisations_settings_cannot_be_opened_or_changed_and_each_attempt_is_audited(
    admin_client, administrator, theirs
):
    opened = admin_client.get(_change(theirs.organisation))
    posted = admin_client.post(_change(theirs.organisation), _form(theirs.organisation))
    unknown = admin_client.get(reverse("admin:fhir_mhdsettings_change", args=["0b1e5e4a-3c2d-4e5f-8a9b-0c1d2e3f4a5b"]))

    # the admin's "does not exist" redirect, as for an id nobody has
    assert opened.status_code == posted.status_code == unknown.status_code == 302
    assert opened["Location"] == unknown["Location"] == "/admin/"
    theirs.refresh_from_db()
    assert theirs.facility_type_display == "Elsewhere Birth Centre" and theirs.confidentiality == "N"
    denials = AuditEvent.objects.filter(action="access.denied", actor_id=administrator.pk, object_type="mhdsettings")
    assert denials.count() == 3
    assert {event.details["reason"] for event in denials} == {"not_found"}


def test_the_add_form_offers_only_the_administrators_organisation(admin_client, organisation, theirs):
    page = admin_client.get(ADD).content.decode()
    refused = admin_client.post(ADD, _form(theirs.organisation))

    assert organisation.name in page and theirs.organisation.name not in page
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert MhdSettings.objects.count() == 1


def test_an_administrator_sets_their_organisations_settings_and_the_change_is_audited(
    admin_client, administrator, organisation
):
    response = admin_client.post(ADD, _form(organisation))

    assert response.status_code == 302
    saved = MhdSettings.objects.get(organisation=organisation)
    assert (saved.confidentiality, saved.language, saved.facility_type_code) == ("R", "cy-GB", "22232009")
    event = AuditEvent.objects.get(action="admin.change", object_type="mhdsettings")
    assert event.actor_id == administrator.pk and str(event.organisation_id) == str(organisation.pk)
    assert event.details["changes"]["language"] == {"before": None, "after": "cy-GB"}

    assert saved.unknown_patient_to_inbox is False  # off unless ticked

    changed = admin_client.post(
        _change(organisation), _form(organisation, language="en-GB", unknown_patient_to_inbox="on")
    )
    assert changed.status_code == 302
    saved.refresh_from_db()
    assert saved.language == "en-GB" and saved.unknown_patient_to_inbox is True
    turned_on = AuditEvent.objects.filter(action="admin.change", object_type="mhdsettings").latest("occurred_at")
    assert turned_on.details["changes"]["unknown_patient_to_inbox"] == {"before": False, "after": True}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", "en_GB"),
        ("language", "en GB"),
        ("facility_type_code", "22232009\t1"),
        ("practice_setting_code", "394585009  x"),
        ("facility_type_system", "snomed ct"),
        ("practice_setting_display", "   "),
    ],
    ids=["language-underscore", "language-space", "code-tab", "code-double-space", "system-not-uri", "blank-name"],
)
def test_a_value_that_would_make_documents_invalid_fhir_is_refused(admin_client, organisation, field, value):
    response = admin_client.post(ADD, _form(organisation, **{field: value}))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]
    assert not MhdSettings.objects.exists()


def test_a_clinician_has_no_mhd_settings_admin(organisation, theirs):
    clinician = factories.make_user(organisation, ["clinician"], is_staff=True, totp=True)
    client = factories.signed_in_client(clinician)

    assert client.get(CHANGELIST).status_code in (302, 403)
    assert client.get(_change(theirs.organisation)).status_code in (302, 403)


def test_the_platform_sees_every_organisations_settings(theirs):
    # The check above would notice a leak: the same list shows the other clinic to a superuser.
    superuser = factories.make_user(None, [], is_superuser=True, is_staff=True, totp=True)

    body = factories.signed_in_client(superuser).get(CHANGELIST).content.decode()

    assert "Elsewhere Birth Centre" in body
