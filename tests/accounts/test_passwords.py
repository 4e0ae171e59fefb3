"""Weak passwords are refused with the validator's own message, on every path that sets one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.accounts.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

EMAIL = "margaret.hamilton@example.test"

WEAK_PASSWORDS = [
    pytest.param("Sh0rt!pw", "This password is too short. It must contain at least 12 characters.", id="too-short"),
    pytest.param("qwerty123456", "This password is too common.", id="common"),
    pytest.param("839201746583", "This password is entirely numeric.", id="all-digits"),
    pytest.param("margaret.hamilton", "The password is too similar to the email.", id="similar-to-email"),
]


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_user_create_rejects_weak_password_with_validator_message(organisation, password, message):
    # given a weak password
    # when a user is created with it
    with pytest.raises(ValidationError) as refused:
        user_create(
            email=EMAIL,
            full_name="Margaret Hamilton",
            password=password,
            organisation=organisation,
            roles=["clinician"],
        )
    # then the validator's message explains why, and no user was stored
    assert message in refused.value.messages
    assert not User.objects.filter(email=EMAIL).exists()


def test_user_create_accepts_strong_password(organisation):
    user = user_create(
        email=EMAIL,
        full_name="Margaret Hamilton",
        password="violet-harbour-lantern-93",
        organisation=organisation,
        roles=["clinician"],
    )
    assert user.check_password("violet-harbour-lantern-93")
    assert user.password.startswith("argon2$")


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_create_user_command_rejects_weak_password(organisation, password, message):
    # when an operator creates a user with a weak password
    with pytest.raises(CommandError) as refused:
        call_command(
            "create_user",
            email=EMAIL,
            name="Margaret Hamilton",
            organisation=organisation.name,
            roles="clinician",
            password=password,
        )
    # then the command fails with the validator's message, and nothing was stored
    assert message in str(refused.value)
    assert not User.objects.filter(email=EMAIL).exists()


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_admin_add_user_rejects_weak_password(superuser_client, organisation, password, message):
    # when a superuser adds a user in the admin with a weak password
    response = superuser_client.post(
        "/admin/accounts/user/add/",
        {
            "email": EMAIL,
            "full_name": "Margaret Hamilton",
            "organisation": str(organisation.pk),
            "roles": ["clinician"],
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )
    # then the form is shown again with the validator's message, and nothing was stored
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not User.objects.filter(email=EMAIL).exists()


def test_admin_password_change_rejects_weak_password(superuser_client, clinician):
    response = superuser_client.post(
        f"/admin/accounts/user/{clinician.pk}/password/",
        {"usable_password": "true", "password1": "839201746583", "password2": "839201746583"},
    )
    assert response.status_code == 200
    assert "This password is entirely numeric." in response.content.decode()
    clinician.refresh_from_db()
    assert not clinician.check_password("839201746583")
