"""seed_demo: the demo organisation for `make run` (users, passwords kept privately, invented patients)."""

from __future__ import annotations

import json
import re
import stat

import pytest
from django.core.management import call_command
from django.test import Client

from apps.accounts.models import Organisation, User
from apps.documents.models import Annotation, Document
from apps.inbox.models import InboxItem
from apps.letters.models import Letter
from apps.operations.management.commands.seed_demo import DEMO_PATIENTS, DEMO_USERS
from apps.patients.models import Patient
from apps.patients.nhs_number import nhs_number_problem
from apps.reviews.models import Review
from apps.reviews.selectors import overdue_reviews
from tests.accounts.helpers import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]


@pytest.fixture
def var_dir(settings, tmp_path, filesystem_storage):
    """The demo's credentials file and its documents under the test's own folder."""
    settings.VAR_DIR = tmp_path
    settings.QUILL_SCANNER = "none"  # as in make run
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
    # The demo's reviews, added once: one overdue, one waiting for the team, one completed.
    assert Review.objects.count() == 3
    assert overdue_reviews(organisation_id=Organisation.objects.get(name="Demo Clinic").pk).count() == 1
    assert Review.objects.filter(state="completed").count() == 1
    assert Review.objects.filter(team__name="Duty doctors").count() == 1


def test_seed_demo_resets_passwords_when_file_is_missing(var_dir, capsys):
    call_command("seed_demo")
    first = _printed_passwords(capsys.readouterr().out)
    (var_dir / "demo-credentials.json").unlink()
    call_command("seed_demo")
    second = _printed_passwords(capsys.readouterr().out)
    assert set(second.values()).isdisjoint(first.values())
    for email, password in second.items():
        assert User.objects.get(email=email).check_password(password)


def test_seed_demo_fills_the_record_once_with_every_kind_of_thing(var_dir, capsys):
    # when the demo is seeded twice
    call_command("seed_demo")
    call_command("seed_demo")

    # then Ellis Marwood has documents of several kinds, with annotations by two clinicians
    ellis = Patient.objects.get(given_name="Ellis", family_name="Marwood")
    documents = Document.objects.filter(patient=ellis)
    assert {"clinical-note", "lab", "photo", "consent", "letter"} <= set(documents.values_list("category", flat=True))
    assert documents.filter(content_type="image/jpeg").count() == 1
    assert Annotation.objects.filter(document__patient=ellis).values("author").distinct().count() == 2
    # a final letter, its amendment (the PDF's next version, the old one kept) and a colleague's draft
    letters = Letter.objects.filter(patient=ellis)
    assert sorted(letters.values_list("status", flat=True)) == ["draft", "final", "final"]
    amended = letters.get(amends__isnull=False)
    assert amended.document.version_number == 2 and amended.document.supersedes.letter == amended.amends
    # and a restricted record whose care team is the demo clinician
    saffron = Patient.objects.get(given_name="Saffron")
    assert saffron.restricted
    assert list(saffron.care_team.values_list("user__email", flat=True)) == ["clinician@demo.quill.test"]
    # the inbox holds the three scanned letters from the demo's watched folder, the first matched to Ellis
    items = InboxItem.objects.filter(source__kind="folder").order_by("original_filename")
    assert [item.original_filename for item in items] == ["scan-0001.pdf", "scan-0002.pdf", "scan-0003.pdf"]
    assert items[0].suggestions["patients"][0]["name"] == "Ellis Marwood"
    assert items[2].suggestions["patients"][0]["basis"] == "birth_date_and_name"
    # seeding again adds nothing
    assert Document.objects.count() == 7 and Letter.objects.count() == 3 and InboxItem.objects.count() == 3
