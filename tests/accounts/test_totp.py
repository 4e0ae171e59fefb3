"""TOTP: the enrolment gate, the admin's refusal, enrolment, verification and wrong codes."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.models import AuditEvent, Outcome
from tests import factories
from tests.accounts.helpers import actions, sign_in, wrong_code

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls")]

ENROL_URL = "/accounts/sign-in/set-up-code/"
VERIFY_URL = "/accounts/sign-in/code/"

GATED_PAGES = [
    pytest.param("/", id="home"),
    pytest.param("/quill-test/page/", id="signed-in-page"),
    pytest.param("/patients/", id="patients"),
    pytest.param("/documents/", id="documents"),
    pytest.param("/letters/", id="letters"),
    pytest.param("/audit/", id="audit"),
    pytest.param("/admin/", id="admin"),
    pytest.param("/admin/accounts/user/", id="admin-users"),
    pytest.param("/admin/accounts/apitoken/add/", id="admin-add-token"),
    pytest.param("/accounts/sign-out-everywhere/", id="sign-out-everywhere"),
]


def _enrolment_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", GATED_PAGES)
def test_administrator_without_device_is_sent_to_enrolment_from_every_page(administrator_without_totp, path):
    # given an administrator signed in with a password but no TOTP device
    client = _enrolment_client(administrator_without_totp)
    # when they open any page
    response = client.get(path)
    # then they are sent to enrolment
    assert response.status_code == 302
    assert response["Location"] == ENROL_URL


@pytest.mark.parametrize("roles", [["owner"], ["administrator", "clinician"]], ids=["owner", "admin-clinician"])
def test_managing_roles_must_enrol(organisation, roles):
    user = factories.make_user(organisation, roles)
    response = _enrolment_client(user).get("/quill-test/page/")
    assert response["Location"] == ENROL_URL


def test_superuser_without_device_must_enrol(db):
    user = factories.make_user(None, [], is_superuser=True, is_staff=True)
    response = _enrolment_client(user).get("/admin/")
    assert response["Location"] == ENROL_URL


def test_sign_in_sends_administrator_without_device_to_enrolment(administrator_without_totp):
    response = sign_in(Client(), administrator_without_totp.email)
    assert response.status_code == 302
    assert response["Location"] == ENROL_URL


def test_admin_refuses_session_without_verified_device(administrator_without_totp, settings):
    # given the TOTP gate taken away, so only the OTP admin site stands in the way
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("TotpRequiredMiddleware")]
    client = _enrolment_client(administrator_without_totp)
    # when a staff administrator without a verified device opens the admin
    response = client.get("/admin/accounts/user/", follow=True)
    # then the admin refuses and sends them to the portal's sign-in
    assert response.redirect_chain[0][0].startswith("/admin/login/")
    assert response.redirect_chain[-1][0].startswith("/accounts/sign-in/?next=")
    assert b"Quill administration" not in response.content


def test_admin_behind_gate_never_shows_a_page_before_enrolment(administrator_without_totp):
    response = _enrolment_client(administrator_without_totp).get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == ENROL_URL
    assert b"Quill administration" not in response.content


def test_verified_administrator_reaches_admin(administrator_client):
    response = administrator_client.get("/admin/")
    assert response.status_code == 200
    assert b"Quill administration" in response.content


def test_enrolment_page_shows_qr_code_and_secret(administrator_without_totp):
    response = _enrolment_client(administrator_without_totp).get(ENROL_URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<svg" in body
    assert 'data-testid="totp-secret"' in body
    device = TOTPDevice.objects.get(user=administrator_without_totp)
    assert device.confirmed is False


def test_enrolment_with_correct_code_confirms_device_and_is_audited(administrator_without_totp):
    # given an administrator on the enrolment page
    client = _enrolment_client(administrator_without_totp)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=administrator_without_totp, confirmed=False)
    # when they enter the current code from their app
    response = client.post(ENROL_URL, {"code": factories.current_totp_code(device)})
    # then the device is confirmed, the session is verified and the enrolment audited
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed is True
    assert "auth.totp.enrolled" in actions(actor_id=administrator_without_totp.pk)
    assert client.get("/quill-test/page/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_enrolment_rejects_wrong_code_and_audits_it(administrator_without_totp):
    client = _enrolment_client(administrator_without_totp)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=administrator_without_totp, confirmed=False)
    # when a wrong code is entered
    response = client.post(ENROL_URL, {"code": wrong_code(factories.current_totp_code(device))})
    # then it is refused, nothing is confirmed, the gate still holds, and it is audited
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert client.get("/quill-test/page/")["Location"] == ENROL_URL
    event = AuditEvent.objects.get(action="auth.totp.failed")
    assert event.outcome == Outcome.DENIED
    assert event.actor_id == administrator_without_totp.pk


@pytest.mark.parametrize("code", ["12ab56", "123"], ids=["letters", "too-short"])
def test_enrolment_rejects_malformed_code(administrator_without_totp, code):
    client = _enrolment_client(administrator_without_totp)
    response = client.post(ENROL_URL, {"code": code})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=administrator_without_totp, confirmed=True).exists()


def test_sign_in_with_device_asks_for_code_then_accepts_correct_one(administrator):
    # given an administrator with a confirmed device
    client = Client()
    response = sign_in(client, administrator.email)
    # then after the password they are asked for a code
    assert response.status_code == 302
    assert response["Location"].startswith(VERIFY_URL)
    assert client.get("/quill-test/page/")["Location"].startswith(VERIFY_URL)
    # when they enter the current code
    device = factories.totp_device(administrator)
    response = client.post(VERIFY_URL, {"code": factories.current_totp_code(device), "next": "/quill-test/page/"})
    # then they reach the page they asked for, and it is audited
    assert response["Location"] == "/quill-test/page/"
    assert client.get("/quill-test/page/").status_code == 200
    assert actions(actor_id=administrator.pk)[-1] == "auth.totp.verified"


def test_verification_rejects_wrong_code_and_audits_it(administrator):
    client = Client()
    sign_in(client, administrator.email)
    device = factories.totp_device(administrator)
    # when a wrong code is entered
    response = client.post(VERIFY_URL, {"code": wrong_code(factories.current_totp_code(device))})
    # then it is refused, the session stays unverified, and it is audited
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get("/quill-test/page/")["Location"].startswith(VERIFY_URL)
    assert client.get("/admin/")["Location"].startswith(VERIFY_URL)
    event = AuditEvent.objects.get(action="auth.totp.failed")
    assert event.outcome == Outcome.DENIED


def test_clinician_without_device_needs_no_code(clinician):
    client = Client()
    assert sign_in(client, clinician.email).status_code == 302
    assert client.get("/quill-test/page/").status_code == 200


def test_organisation_requiring_totp_forces_clinician_to_enrol(organisation, clinician):
    # given an organisation that requires TOTP of everyone
    organisation.require_totp_for_all = True
    organisation.save()
    # when a clinician without a device signs in
    client = Client()
    response = sign_in(client, clinician.email)
    # then they must enrol before anything else
    assert response["Location"] == ENROL_URL
    assert client.get("/quill-test/page/")["Location"] == ENROL_URL


def test_api_ignores_session_that_has_not_passed_totp(administrator_without_totp):
    client = _enrolment_client(administrator_without_totp)
    response = client.get("/api/quill-test/whoami/")
    assert response.status_code in (401, 403)
    assert response.json()["detail"]["error_code"] == "not_authenticated"


def test_api_accepts_verified_session(administrator_client, administrator):
    response = administrator_client.get("/api/quill-test/whoami/")
    assert response.status_code == 200
    assert response.json()["email"] == administrator.email


def test_code_page_keeps_the_full_address_to_return_to(client, organisation):
    # given a clinician with an authenticator app who has entered only the password
    user = factories.make_user(organisation, ["clinician"], totp=True)
    client.force_login(user)
    # when a page with a query string is asked for
    response = client.get("/patients/?q=Example&page=2")
    # then the code page is shown first and remembers the whole address, query included
    assert response.status_code == 302
    assert response["Location"] == "/accounts/sign-in/code/?next=%2Fpatients%2F%3Fq%3DExample%26page%3D2"


def test_navigation_is_hidden_until_the_code_is_entered(client, organisation):
    user = factories.make_user(organisation, ["clinician"], totp=True)
    client.force_login(user)
    page = client.get("/accounts/sign-in/code/").content.decode()
    assert 'aria-label="Main"' not in page
    signed_in = factories.signed_in_client(user).get("/patients/").content.decode()
    assert 'aria-label="Main"' in signed_in


def test_a_correct_code_right_after_a_wrong_one_says_how_long_to_wait(administrator):
    # given a wrong code just entered
    client = Client()
    sign_in(client, administrator.email)
    device = factories.totp_device(administrator)
    client.post(VERIFY_URL, {"code": wrong_code(factories.current_totp_code(device))})
    # when the right code follows at once
    response = client.post(VERIFY_URL, {"code": factories.current_totp_code(device)})
    # then the page says to wait, not that the code is wrong
    page = response.content.decode()
    assert "That code is not right" not in page
    assert "Wait 1 second, then enter the code your app shows" in page
    assert client.get("/quill-test/page/")["Location"].startswith(VERIFY_URL)


def test_the_enrolment_code_reused_to_sign_in_is_called_used_not_wrong(administrator_without_totp):
    # given a device just confirmed with the current code
    client = _enrolment_client(administrator_without_totp)
    client.get(ENROL_URL)
    device = TOTPDevice.objects.get(user=administrator_without_totp)
    code = factories.current_totp_code(device)
    client.post(ENROL_URL, {"code": code})
    # when the same code is entered at the next sign-in
    client = Client()
    sign_in(client, administrator_without_totp.email)
    response = client.post(VERIFY_URL, {"code": code})
    # then it is refused as already used, without starting a wait
    page = response.content.decode()
    assert "This code was just used. Wait for your app to show the next code" in page
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
