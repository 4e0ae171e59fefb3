"""Operator commands: create_user and seed_demo (create_api_token is in test_api_tokens)."""

from __future__ import annotations

import json
import re
import stat

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.management.commands.seed_demo import DEMO_PATIENTS, DEMO_USERS
from apps.accounts.models import Organisation, User
from apps.patients.models import Patient
from apps.patients.nhs_number import nhs_number_problem
from tests.accounts.helpers import sign_in

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


# --- seed_demo ---------------------------------------------------------------------------------


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def _printed_passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"(\S+@demo\.quill\.test)\s+password: (\S+)", output))


def test_seed_demo_creates_one_user_per_role_and_patients(var_dir, capsys):
    # when the demo is seeded
    call_command("seed_demo")
    output = capsys.readouterr().out
    # then there is one demo clinic with one user per role, and invented patients with valid NHS numbers
    organisation = Organisation.objects.get(name="Demo Clinic")
    for role, email, _name in DEMO_USERS:
        assert User.objects.get(email=email).roles == [role]
        assert User.objects.get(email=email).organisation == organisation
    patients = Patient.objects.filter(organisation=organisation)
    assert patients.count() == len(DEMO_PATIENTS)
    for patient in patients:
        assert patient.nhs_number.startswith("999")
        assert nhs_number_problem(patient.nhs_number) is None
    # and it prints where to sign in, every account's password, and the TOTP requirement
    assert "http://127.0.0.1:8000/accounts/sign-in/" in output
    assert set(_printed_passwords(output)) == {email for _, email, _ in DEMO_USERS}
    assert "must set up two-step sign-in" in output


def test_seed_demo_passwords_sign_in(var_dir, capsys):
    call_command("seed_demo")
    passwords = _printed_passwords(capsys.readouterr().out)
    client = Client()
    assert sign_in(client, "clinician@demo.quill.test", passwords["clinician@demo.quill.test"]).status_code == 302
    assert client.get("/quill-test/page/").status_code == 200
    # an administrator signs in with the printed password and is then sent to set up TOTP
    response = sign_in(Client(), "administrator@demo.quill.test", passwords["administrator@demo.quill.test"])
    assert response["Location"] == "/accounts/sign-in/set-up-code/"


def test_seed_demo_credentials_file_is_private(var_dir, capsys):
    call_command("seed_demo")
    path = var_dir / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == _printed_passwords(capsys.readouterr().out)


def test_seed_demo_rerun_is_safe_and_reprints_same_passwords(var_dir, capsys):
    # given a seeded demo
    call_command("seed_demo")
    first = _printed_passwords(capsys.readouterr().out)
    # when it is run again
    call_command("seed_demo")
    second = _printed_passwords(capsys.readouterr().out)
    # then nothing is duplicated and the same passwords are printed
    assert second == first
    assert Organisation.objects.filter(name="Demo Clinic").count() == 1
    assert User.objects.filter(email__endswith="@demo.quill.test").count() == len(DEMO_USERS)
    assert Patient.objects.count() == len(DEMO_PATIENTS)


def test_seed_demo_resets_passwords_when_file_is_missing(var_dir, capsys):
    call_command("seed_demo")
    first = _printed_passwords(capsys.readouterr().out)
    (var_dir / "demo-credentials.json").unlink()
    call_command("seed_demo")
    second = _printed_passwords(capsys.readouterr().out)
    assert set(second.values()).isdisjoint(first.values())
    for email, password in second.items():
        assert User.objects.get(email=email).check_password(password)
