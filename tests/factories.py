"""Small factories for tests: real rows through the real services, invented data."""

from __future__ import annotations

import itertools
from datetime import date

from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.models import Organisation, User
from apps.accounts.services import api_token_create
from apps.patients.models import Patient

PASSWORD = "correct-horse-battery-staple-42"
_counter = itertools.count(1)
_password_hashes: dict[tuple[str, ...], str] = {}


def _hashed_password() -> str:
    """PASSWORD hashed once per test process and hasher setting (argon2 by default); reused for speed."""
    from django.conf import settings
    from django.contrib.auth.hashers import make_password

    hashers = tuple(settings.PASSWORD_HASHERS)
    if hashers not in _password_hashes:
        _password_hashes[hashers] = make_password(PASSWORD)
    return _password_hashes[hashers]


# Valid NHS numbers (mod-11) in the 999 range used for testing; none is a real person.
VALID_NHS_NUMBERS = ["9434765919", "9434765870", "9434765846", "9434765862", "9434765897"]


def make_organisation(name: str = "Demo Clinic", **fields) -> Organisation:
    return Organisation.objects.create(name=f"{name} {next(_counter)}", **fields)


def make_user(
    organisation: Organisation | None,
    roles: list[str] | tuple[str, ...] = ("clinician",),
    *,
    email: str | None = None,
    totp: bool = False,
    **fields,
) -> User:
    n = next(_counter)
    user = User(
        email=email or f"user{n}@example.test",
        password=_hashed_password(),
        full_name=fields.pop("full_name", f"Test User {n}"),
        organisation=organisation,
        roles=list(roles),
        is_staff=bool(set(roles) & {"administrator", "owner"}) or fields.pop("is_staff", False),
        **fields,
    )
    user.full_clean(exclude=["password"])
    user.save()
    if totp:
        TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


def totp_device(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def current_totp_code(device: TOTPDevice) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def signed_in_client(user: User, client: Client | None = None) -> Client:
    """A portal client whose session has passed password and TOTP (where the user needs it)."""
    client = client or Client()
    client.force_login(user)
    if user.totp_required() or TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        device = totp_device(user)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def token_client(user: User, *, keyword: str = "Token") -> APIClient:
    _, key = api_token_create(user=user, name="test token")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


def make_patient(organisation: Organisation, **fields) -> Patient:
    n = next(_counter)
    defaults = {
        "given_name": f"Alex{n}",
        "family_name": "Example",
        "date_of_birth": date(1980, 1, 1 + n % 27),
        "mrn": f"MRN{n:06d}",
        "sex": "unknown",
    }
    defaults.update(fields)
    return Patient.objects.create(organisation=organisation, **defaults)
