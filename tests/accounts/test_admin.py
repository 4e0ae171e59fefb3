"""The accounts admin: organisation scoping, no superuser grants, audited changes, tokens."""

from __future__ import annotations

import re

import pytest

from apps.accounts.models import ApiToken, Organisation, User
from apps.accounts.services import api_token_create, hash_token_key
from apps.audit.models import AuditEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def _user_form(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "full_name": user.full_name,
        "organisation": str(user.organisation_id),
        "roles": list(user.roles),
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value not in ("", None)}


def test_administrator_sees_only_own_organisation_users(administrator_client, clinician, other_clinician):
    response = administrator_client.get("/admin/accounts/user/")
    assert response.status_code == 200
    body = response.content.decode()
    assert clinician.email in body
    assert other_clinician.email not in body


def test_administrator_cannot_open_other_organisation_user(administrator_client, other_clinician):
    response = administrator_client.get(f"/admin/accounts/user/{other_clinician.pk}/change/")
    assert response.status_code == 302  # the admin's "does not exist" redirect
    assert response["Location"] == "/admin/"


def test_administrator_sees_only_own_organisation(administrator_client, organisation, other_organisation):
    body = administrator_client.get("/admin/accounts/organisation/").content.decode()
    assert organisation.name in body
    assert other_organisation.name not in body
    assert administrator_client.get("/admin/accounts/organisation/add/").status_code == 403


def test_clinician_staff_without_managing_role_sees_no_accounts_admin(organisation, other_clinician):
    staff_clinician = factories.make_user(organisation, ["clinician"], is_staff=True, totp=True)
    client = factories.signed_in_client(staff_clinician)
    assert client.get("/admin/accounts/user/").status_code == 403


def test_administrator_cannot_grant_superuser(administrator_client, clinician):
    # given the change form for a user of the administrator's organisation
    form_page = administrator_client.get(f"/admin/accounts/user/{clinician.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in form_page
    assert 'name="user_permissions"' not in form_page
    # when the administrator posts is_superuser anyway
    response = administrator_client.post(
        f"/admin/accounts/user/{clinician.pk}/change/", _user_form(clinician, is_superuser="on")
    )
    # then the save succeeds but the user is not a superuser
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert clinician.is_superuser is False


def test_superuser_can_grant_superuser(superuser_client, clinician):
    form_page = superuser_client.get(f"/admin/accounts/user/{clinician.pk}/change/").content.decode()
    assert 'name="is_superuser"' in form_page


def test_admin_change_is_audited_with_changed_fields(administrator_client, administrator, clinician):
    # when an administrator gives a clinician the billing role too
    response = administrator_client.post(
        f"/admin/accounts/user/{clinician.pk}/change/", _user_form(clinician, roles=["clinician", "billing"])
    )
    assert response.status_code == 302
    # then an admin.change event names who, what and the change
    event = AuditEvent.objects.get(action="admin.change")
    assert event.actor_id == administrator.pk
    assert event.object_type == "user"
    assert event.object_id == str(clinician.pk)
    assert str(event.organisation_id) == str(clinician.organisation_id)
    assert event.details["operation"] == "change"
    assert event.details["changes"] == {"roles": {"before": ["clinician"], "after": ["clinician", "billing"]}}


def test_admin_add_user_is_audited_without_password(superuser_client, superuser, organisation):
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@Example.test",
            "full_name": "New Person",
            "organisation": str(organisation.pk),
            "roles": ["billing"],
            "usable_password": "true",
            "password1": "violet-harbour-lantern-93",
            "password2": "violet-harbour-lantern-93",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.test")
    assert user.check_password("violet-harbour-lantern-93")
    assert user.roles == ["billing"]
    event = AuditEvent.objects.get(action="admin.change")
    assert event.details["operation"] == "add"
    assert "violet" not in str(event.details)
    assert event.details["changes"]["password"] == {"before": "(hidden)", "after": "(changed)"}


def test_admin_password_change_is_audited(superuser_client, clinician):
    response = superuser_client.post(
        f"/admin/accounts/user/{clinician.pk}/password/",
        {"usable_password": "true", "password1": "violet-harbour-lantern-93", "password2": "violet-harbour-lantern-93"},
    )
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert clinician.check_password("violet-harbour-lantern-93")
    event = AuditEvent.objects.get(action="admin.change")
    assert event.details["changes"] == {"password": {"before": "(hidden)", "after": "(changed)"}}


def test_organisation_allowlist_and_totp_setting_in_admin(administrator_client, organisation):
    response = administrator_client.post(
        f"/admin/accounts/organisation/{organisation.pk}/change/",
        {
            "name": organisation.name,
            "address": "",
            "require_totp_for_all": "on",
            "ip_allowlist": "192.0.2.0/24\n2001:db8::/32",
        },
    )
    assert response.status_code == 302
    organisation.refresh_from_db()
    assert organisation.require_totp_for_all is True
    assert organisation.ip_allowlist == ["192.0.2.0/24", "2001:db8::/32"]
    event = AuditEvent.objects.get(action="admin.change")
    assert event.details["changes"]["ip_allowlist"] == {"before": [], "after": ["192.0.2.0/24", "2001:db8::/32"]}


def test_organisation_allowlist_rejects_bad_range(administrator_client, organisation):
    response = administrator_client.post(
        f"/admin/accounts/organisation/{organisation.pk}/change/",
        {"name": organisation.name, "ip_allowlist": "not-a-network"},
    )
    assert response.status_code == 200
    assert "is not a network range" in response.content.decode()
    organisation.refresh_from_db()
    assert organisation.ip_allowlist == []
    assert not AuditEvent.objects.filter(action="admin.change").exists()


def test_admin_add_token_shows_key_once_and_stores_hash(administrator_client, administrator, clinician):
    # when an administrator creates a token in the admin
    response = administrator_client.post(
        "/admin/accounts/apitoken/add/", {"user": clinician.pk, "name": "Lab feed", "days": 90}, follow=True
    )
    # then the next page shows the key in a message, and only its hash is stored
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"] if "shown only once" in str(m)]
    key = re.search(r"(qk_\S+)$", message).group(1)
    assert key in response.content.decode()
    token = ApiToken.objects.get(name="Lab feed")
    assert token.key_hash == hash_token_key(key)
    assert token.user == clinician
    assert token.organisation_id == clinician.organisation_id
    event = AuditEvent.objects.get(action="token.created")
    assert event.actor_id == administrator.pk
    # and from then on no page shows the key or its hash
    page = administrator_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert key not in page
    assert token.key_hash not in page
    listing = administrator_client.get("/admin/accounts/apitoken/").content.decode()
    assert token.prefix in listing
    assert token.key_hash not in listing


def test_administrator_cannot_make_token_for_other_organisation(administrator_client, other_clinician):
    response = administrator_client.post(
        "/admin/accounts/apitoken/add/", {"user": other_clinician.pk, "name": "Sneaky", "days": 90}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_revoke_action_revokes_through_service(administrator_client, administrator, clinician):
    token, key = api_token_create(user=clinician, name="Lab feed")
    response = administrator_client.post(
        "/admin/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="token.revoked")
    assert event.actor_id == administrator.pk
    # and the key stops working at once
    client = factories.APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/quill-test/whoami/").status_code == 401


def test_administrator_cannot_revoke_other_organisation_token(administrator_client, other_clinician):
    token, _ = api_token_create(user=other_clinician, name="Theirs")
    administrator_client.post(
        "/admin/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [str(token.pk)]}
    )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_tokens_users_and_organisations_cannot_be_deleted_in_admin(superuser_client, clinician):
    token, _ = api_token_create(user=clinician, name="Lab feed")
    assert superuser_client.get(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403
    assert superuser_client.get(f"/admin/accounts/user/{clinician.pk}/delete/").status_code == 403
    org_delete = f"/admin/accounts/organisation/{clinician.organisation_id}/delete/"
    assert superuser_client.get(org_delete).status_code == 403
    assert Organisation.objects.filter(pk=clinician.organisation_id).exists()


@pytest.mark.parametrize("roles", [["billing"], ["clinician"]], ids=["billing", "clinician"])
def test_a_signed_in_user_without_an_admin_role_is_told_not_allowed(organisation, roles):
    user = factories.make_user(organisation, roles)
    client = factories.signed_in_client(user)

    response = client.get("/admin/", follow=True)

    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page and "administrators and owners" in page
    assert 'name="password"' not in page
    denial = AuditEvent.objects.get(action="access.denied", actor_id=user.pk)
    assert denial.details == {
        "reason": "role_required",
        "attempted": "admin",
        "path": "/admin/",
        "route": "otpadmin:login",
    }
