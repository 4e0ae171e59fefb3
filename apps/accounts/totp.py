"""Checking a code from an authenticator app, and saying why one was refused.

django-otp refuses a correct code in two situations a person cannot see: right after
wrong codes it makes them wait (1, 2, 4 … seconds), and it never accepts a code from a
time step already used (the enrolment code cannot also sign in). "That code is not
right" is then wrong; these messages say what happened and what to do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.utils import timezone
from django_otp.models import VerifyNotAllowed
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

WRONG = "That code is not right. Codes change every 30 seconds; enter the one your app shows now."


@dataclass(frozen=True)
class TotpCheck:
    device: TOTPDevice | None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.device is not None


def totp_check(devices: list[TOTPDevice], code: str) -> TotpCheck:
    """The device that accepts `code`, or the reason none did, in words the person can act on."""
    refusal = TotpCheck(None, WRONG)
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if not allowed:
            refusal = TotpCheck(None, _wait_message(info or {}))
            continue
        if _already_used(device, code):
            # Counting it as a wrong code would also make the person wait before the next one.
            refusal = TotpCheck(
                None,
                "This code was just used. Wait for your app to show the next code (at most 30 seconds), "
                "then enter that one.",
            )
            continue
        if device.verify_token(code):
            return TotpCheck(device)
    return refusal


def _wait_message(info: dict) -> str:
    if info.get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS and info.get("locked_until"):
        seconds = max(1, math.ceil((info["locked_until"] - timezone.now()).total_seconds()))
        unit = "second" if seconds == 1 else "seconds"
        return (
            f"After a wrong code Quill waits a little before the next try. "
            f"Wait {seconds} {unit}, then enter the code your app shows."
        )
    return "Codes cannot be checked for this account at the moment. Wait a minute and try again."


def _already_used(device: TOTPDevice, code: str) -> bool:
    """Whether `code` is valid for a time step this device has already accepted."""
    if device.last_t < 0 or not (code.isascii() and code.isdigit()):
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        if totp.t() <= device.last_t and totp.token() == int(code):
            return True
    return False
