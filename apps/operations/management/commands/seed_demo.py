"""`manage.py seed_demo`: the demo organisation for `make run`; safe to re-run.

Creates "Demo Clinic" with one user per role (two clinicians), a few invented patients
and, once, their records (apps/operations/demo_records.py): documents with annotations,
a final letter, its amendment and a draft, a restricted record.
Passwords are generated, and because only their hashes are stored they are
kept in VAR_DIR/demo-credentials.json (mode 0600, git-ignored) so re-runs can
print them again. Never use this with real patient data.

It lives in operations, the top layer, because it composes several apps
(accounts and patients today); a lower app may not import a higher one.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import TypedDict

from django.conf import settings
from django.db import transaction

from apps.accounts.management.commands.create_user import generate_password
from apps.accounts.models import Organisation, User
from apps.accounts.services import organisation_create, user_create, user_set_password
from apps.operations.demo_inbox import seed_inbox
from apps.operations.demo_records import seed_records
from apps.operations.demo_reviews import seed_reviews
from apps.patients.models import Patient
from apps.patients.services import patient_create
from quill.commands import QuillCommand

DEMO_ORGANISATION = "Demo Clinic"
SIGN_IN_URL = "http://127.0.0.1:8000/accounts/sign-in/"
CREDENTIALS_FILE = "demo-credentials.json"

# (role, email, full name) — invented people.
DEMO_USERS = [
    ("clinician", "clinician@demo.quill.test", "Dr Rowan Ashby"),
    ("clinician", "clinician2@demo.quill.test", "Dr Sam Whitlock"),
    ("billing", "billing@demo.quill.test", "Priya Castellane"),
    ("administrator", "administrator@demo.quill.test", "Morgan Telford"),
    ("owner", "owner@demo.quill.test", "Dr Imogen Halloway"),
]


class DemoPatient(TypedDict):
    """One invented patient: the arguments ``patient_create`` takes besides the actor."""

    nhs_number: str
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str


# Invented patients; NHS numbers are valid (mod-11) and from the 999 test range.
DEMO_PATIENTS: list[DemoPatient] = [
    {"nhs_number": "9992345675", "mrn": "DEMO-0001", "given_name": "Ellis", "family_name": "Marwood",
     "date_of_birth": date(1958, 3, 14), "sex": "male"},
    {"nhs_number": "9993456780", "mrn": "DEMO-0002", "given_name": "Saffron", "family_name": "Okonkwo-Reyes",
     "date_of_birth": date(1986, 11, 2), "sex": "female"},
    {"nhs_number": "9994567896", "mrn": "DEMO-0003", "given_name": "Tobias", "family_name": "Quenby",
     "date_of_birth": date(2012, 6, 21), "sex": "male"},
    {"nhs_number": "9996789012", "mrn": "DEMO-0004", "given_name": "Ngaio", "family_name": "Petrakis",
     "date_of_birth": date(1941, 1, 30), "sex": "female"},
    {"nhs_number": "9997890124", "mrn": "DEMO-0005", "given_name": "Riley", "family_name": "Vantongeren",
     "date_of_birth": date(1999, 9, 9), "sex": "other"},
]  # fmt: skip


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE


def load_credentials(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(email): str(password) for email, password in data.items()} if isinstance(data, dict) else {}


def save_credentials(path: Path, credentials: dict[str, str]) -> None:
    """Write the file readable by its owner only (0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(credentials, handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


class Command(QuillCommand):
    help = "Create (or re-print) the demo organisation, one user per role and a few invented patients."

    def run(self, **options) -> None:
        path = credentials_path()
        stored = load_credentials(path)
        with transaction.atomic():
            organisation = self._organisation()
            credentials = {
                email: self._user(organisation, role, email, name, stored) for role, email, name in DEMO_USERS
            }
            created_patients = self._patients(organisation)
            records = self._records(organisation)
            reviews = self._reviews(organisation)
            inbox = seed_inbox(organisation=organisation)
        save_credentials(path, credentials)
        self._print(organisation, credentials, created_patients, path)
        if inbox:
            self.stdout.write("Demo inbox: three scanned letters taken in from the demo's watched folder (var/intake).")
        if reviews:
            self.stdout.write(
                "Demo reviews: team “Duty doctors”; Dr Rowan Ashby has an overdue review under My reviews, "
                "the team one more, and one is completed (see Ellis Marwood's documents)."
            )
        if records:
            self.stdout.write(
                "Demo records added: documents (with annotations) and letters (final, amended, draft) for "
                "Ellis Marwood; Saffron Okonkwo-Reyes's record is restricted to Dr Rowan Ashby's care team."
            )

    def _organisation(self) -> Organisation:
        organisation = Organisation.objects.filter(name=DEMO_ORGANISATION).order_by("created_at").first()
        return organisation or organisation_create(name=DEMO_ORGANISATION, address="1 Example Street\nDemo Town")

    def _user(self, organisation: Organisation, role: str, email: str, name: str, stored: dict[str, str]) -> str:
        """The account's password: the stored one if it still works, otherwise a new one (set now)."""
        user = User.objects.filter(email=email).first()
        password = stored.get(email)
        if user is None:
            password = password or generate_password()
            user_create(email=email, full_name=name, password=password, organisation=organisation, roles=[role])
            return password
        if password and user.check_password(password):
            return password
        password = generate_password()
        user_set_password(user=user, password=password)
        return password

    def _patients(self, organisation: Organisation) -> int:
        """Register the invented patients that are missing, as the demo clinician (audited like any other)."""
        clinician = User.objects.get(email=DEMO_USERS[0][1])
        created = 0
        for fields in DEMO_PATIENTS:
            if Patient.objects.filter(organisation=organisation, nhs_number=fields["nhs_number"]).exists():
                continue
            patient_create(actor=clinician, **fields)
            created += 1
        return created

    def _records(self, organisation: Organisation) -> bool:
        clinician = User.objects.get(email=DEMO_USERS[0][1])
        colleague = User.objects.get(email=DEMO_USERS[1][1])
        patients = [
            Patient.objects.get(organisation=organisation, nhs_number=fields["nhs_number"])
            for fields in DEMO_PATIENTS[:2]
        ]
        return seed_records(clinician=clinician, colleague=colleague, patients=patients)

    def _reviews(self, organisation: Organisation) -> bool:
        patient = Patient.objects.get(organisation=organisation, nhs_number=DEMO_PATIENTS[0]["nhs_number"])
        clinician = User.objects.get(email=DEMO_USERS[0][1])
        colleague = User.objects.get(email=DEMO_USERS[1][1])
        return seed_reviews(clinician=clinician, colleague=colleague, patient=patient)

    def _print(self, organisation: Organisation, credentials: dict[str, str], new_patients: int, path: Path) -> None:
        patients = Patient.objects.filter(organisation=organisation).count()
        self.stdout.write(f"Demo organisation: {organisation.name} ({patients} invented patients, {new_patients} new)")
        self.stdout.write(f"Sign in at: {SIGN_IN_URL}")
        width = max(len(email) for email in credentials)
        for role, email, _name in DEMO_USERS:
            self.stdout.write(f"  {role:<14} {email:<{width}}  password: {credentials[email]}")
        self.stdout.write(
            "Administrator and owner accounts must set up two-step sign-in (an authenticator app, TOTP) "
            "the first time they sign in."
        )
        self.stdout.write(f"These passwords are kept in {path} (readable only by you); demo data only.")
