"""Admin tenancy: an organisation's administrator sees nothing of another organisation, in any admin.

Every ModelAdmin registered on the site is visited (lists, their filters and facet counts,
the raw-id lookup pop-up, the add form's choices, every autocomplete that points at it) by
an administrator who also holds every Django permission, with another organisation's rows
in the database carrying marker strings that must never appear.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken, User
from apps.accounts.services import api_token_create
from apps.outbox.models import MessageStatus, OutboxMessage, Target
from apps.patients.models import BreakGlassAccess
from apps.reviews.models import Team
from quill.admin_site import OrganisationTenancy, PlatformOnlyAdmin, ScopedRawIdWidget
from tests import factories

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTERED]


def _populate(organisation, tag: str) -> dict[str, str]:
    """One of everything the admin lists, each naming `tag`; returns the strings that identify them."""
    clinician = factories.make_user(organisation, ["clinician"], email=f"{tag}-clinician@example.test", totp=True)
    manager = factories.make_user(organisation, ["administrator"], email=f"{tag}-admin@example.test", totp=True)
    patient = factories.make_patient(organisation, family_name=f"{tag.title()}family", restricted=True)
    api_token_create(user=clinician, name=f"{tag}-token", actor=manager)  # audited: token.created
    BreakGlassAccess.objects.create(
        patient=patient,
        user=clinician,
        reason=f"{tag} emergency review of the record",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    OutboxMessage.objects.create(
        organisation_id=organisation.pk,
        target=Target.FHIR,
        kind=f"{tag}_kind",
        object_id=f"{tag}-object",
        status=MessageStatus.DEAD,
    )
    team = Team.objects.create(organisation=organisation, name=f"{tag}-team")
    team.members.add(clinician)
    return {
        "review team": f"{tag}-team",
        "organisation": organisation.name,
        "organisation id": str(organisation.pk),
        "clinician": clinician.email,
        "administrator": manager.email,
        "patient": patient.family_name,
        "token": f"{tag}-token",
        "outbox kind": f"{tag}_kind",
        "outbox object": f"{tag}-object",
    }


@pytest.fixture
def clinics():
    ours = factories.make_organisation("Ourside Clinic")
    theirs = factories.make_organisation("Elsewhere Clinic")
    _populate(ours, "ourside")
    markers = _populate(theirs, "elsewhere")
    administrator = factories.make_user(ours, ["administrator"], totp=True)
    # Django permissions grant nothing across organisations, nor any platform-only admin.
    administrator.user_permissions.set(Permission.objects.all())
    return {"administrator": administrator, "their_markers": markers}


def _pages(model, model_admin) -> list[str]:
    """The admin pages of `model` that list or offer rows."""
    info = (model._meta.app_label, model._meta.model_name)
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    return [
        changelist,
        f"{changelist}?_facets=True",
        f"{changelist}?_popup=1&_to_field={model._meta.pk.attname}",  # the raw-id lookup pop-up
        reverse("admin:{}_{}_add".format(*info)),
    ]


def _autocompletes(model) -> list[dict[str, str]]:
    """Every autocomplete request that looks up `model`: one per relation pointing at it."""
    return [
        {"app_label": source._meta.app_label, "model_name": source._meta.model_name, "field_name": field.name}
        for source in apps.get_models()
        for field in source._meta.get_fields()
        if field.is_relation and field.concrete and field.related_model is model
    ]


def _leaks(text: str, markers: dict[str, str]) -> list[str]:
    return [f"{what} ({value})" for what, value in markers.items() if value in text]


def test_every_admin_is_organisation_scoped_or_platform_only():
    unscoped = [
        label
        for label, (_, model_admin) in zip(IDS, REGISTERED, strict=True)
        if not isinstance(model_admin, OrganisationTenancy | PlatformOnlyAdmin)
    ]
    assert unscoped == []


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=IDS)
def test_an_organisation_administrator_sees_nothing_of_another_organisation(clinics, model, model_admin):
    client = factories.signed_in_client(clinics["administrator"])
    markers = clinics["their_markers"]
    platform_only = isinstance(model_admin, PlatformOnlyAdmin)
    problems = []
    for page in _pages(model, model_admin):
        response = client.get(page)
        if platform_only:
            if response.status_code != 403:
                problems.append(f"{page}: {response.status_code}, not 403")
            continue
        if response.status_code not in (200, 403):
            problems.append(f"{page}: {response.status_code}")
        problems += [f"{page} shows their {leak}" for leak in _leaks(response.content.decode(), markers)]
    for params in _autocompletes(model):
        response = client.get(reverse("admin:autocomplete"), {**params, "term": ""})
        problems += [f"autocomplete {params} shows their {leak}" for leak in _leaks(response.content.decode(), markers)]
    assert problems == []


def test_the_platform_sees_every_organisation_in_the_same_pages(clinics):
    # The check above would notice a leak: the same pages show the other clinic to a superuser.
    superuser = factories.make_user(None, [], is_superuser=True, is_staff=True, totp=True)
    client = factories.signed_in_client(superuser)
    markers = clinics["their_markers"]
    users = client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert set(_leaks(users, markers)) >= {
        f"organisation ({markers['organisation']})",
        "clinician (" + markers["clinician"] + ")",
    }
    outbox = client.get(reverse("admin:outbox_outboxmessage_changelist")).content.decode()
    assert f"outbox kind ({markers['outbox kind']})" in _leaks(outbox, markers)


def test_a_raw_id_field_names_only_objects_the_administrator_may_see(clinics):
    # given a raw-id widget for a token's user, limited to our organisation's users
    ours = clinics["administrator"]
    theirs = User.objects.get(email=clinics["their_markers"]["clinician"])
    rel = ApiToken._meta.get_field("user").remote_field
    widget = ScopedRawIdWidget(rel, admin.site, visible=User.objects.filter(organisation_id=ours.organisation_id))
    # then our user is named beside the id, and theirs (an id typed in) is not
    assert widget.label_and_url_for_value(ours.pk)[0] == ours.email
    assert widget.label_and_url_for_value(theirs.pk) == ("", "")
    assert widget.label_and_url_for_value("not-a-number") == ("", "")
