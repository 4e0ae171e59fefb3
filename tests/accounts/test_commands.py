"""Operator commands: create_user (create_api_token is in test_api_tokens; seed_demo in tests/operations)."""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


def test_create_user_with_password(organisation, capsys):
    call_command(
        "create_user",
        email="Sam.Okafor@Example.test",
        name="Sam Okafor",
        organisation=organisation.name.upper(),
        roles="clinician, billing",
        password="violet-harbour-lantern-93",
    )
    user = User.objects.get(email="sam.okafor@example.test")
    assert user.organisation == organisation
    assert user.roles == ["clinician", "billing"]
    assert user.check_password("violet-harbour-lantern-93")
    assert "violet" not in capsys.readouterr().out


def test_create_user_generates_password_when_not_on_a_terminal(organisation, capsys):
    call_command("create_user", email="a@example.test", name="A B", organisation=organisation.name, roles="owner")
    output = capsys.readouterr().out
    password = re.search(r"Password \(shown only now\): (\S+)", output).group(1)
    user = User.objects.get(email="a@example.test")
    assert user.check_password(password)
    assert user.is_staff is True
    assert "two-step sign-in" in output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"roles": "clinician,surgeon"}, "Unknown or missing roles: surgeon"),
        ({"roles": ""}, "Unknown or missing roles"),
        ({"organisation": "No Such Clinic"}, "No organisation is called 'No Such Clinic'"),
    ],
    ids=["unknown-role", "no-roles", "unknown-organisation"],
)
def test_create_user_refuses_bad_input(organisation, options, message):
    arguments = {"email": "a@example.test", "name": "A B", "organisation": organisation.name, "roles": "clinician"}
    with pytest.raises(CommandError, match=message):
        call_command("create_user", **{**arguments, **options}, password="violet-harbour-lantern-93")
    assert not User.objects.filter(email="a@example.test").exists()


def test_create_user_refuses_duplicate_email(clinician):
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_user",
            email=clinician.email.upper(),
            name="Dup",
            organisation=clinician.organisation.name,
            roles="clinician",
            password="violet-harbour-lantern-93",
        )


def test_create_user_can_create_organisation(db):
    call_command(
        "create_user",
        email="a@example.test",
        name="A B",
        organisation="Riverside Practice",
        roles="administrator",
        password="violet-harbour-lantern-93",
        create_organisation=True,
    )
    assert User.objects.get(email="a@example.test").organisation.name == "Riverside Practice"
