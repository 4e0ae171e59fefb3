"""API authentication: hashed integrator tokens, and portal sessions that passed TOTP."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django_otp import user_has_device
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_touch, hash_token_key
from apps.audit.actions import Action
from apps.audit.services import audit_denied
from quill import request_context
from quill.compiled import CompiledLookup


def _token_with_user_and_organisation(key_hash: str) -> QuerySet[ApiToken]:
    # key_hash is unique: no ORDER BY. The user's organisation is the token's (checked in
    # authenticate), so it is not joined a second time.
    return ApiToken.objects.select_related("user", "organisation").filter(key_hash=key_hash).order_by()


# Every API request runs this lookup: compiled by Django once per process (quill/compiled.py).
TOKEN_LOOKUP = CompiledLookup(_token_with_user_and_organisation)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` or `Authorization: Bearer <key>`."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        keyword, _, key = header.partition(" ")
        if keyword.lower() not in self.keywords:
            return None
        key = key.strip()
        if not key or " " in key:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Token <key>'.")
        token = TOKEN_LOOKUP.get(hash_token_key(key))
        if token is None:
            raise exceptions.AuthenticationFailed("This API token is not recognised.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token has been revoked.", code="token_revoked")
        if not token.is_usable:
            raise exceptions.AuthenticationFailed("This API token has expired.", code="token_expired")
        if not token.user.is_active or token.user.organisation_id != token.organisation_id:
            raise exceptions.AuthenticationFailed("This API token's user can no longer use Quill.")
        token.user.organisation = token.organisation  # the same row: spare later reads a query
        ip = request_context.current().ip
        if not token.organisation.allows_ip(ip):
            audit_denied(
                action=Action.ACCESS_DENIED,
                actor=token.user,
                reason="ip_not_allowed",
                object_type="api_token",
                object_id=token.pk,
                details={"ip": ip},
            )
            raise exceptions.PermissionDenied(
                "Your network address is not on this organisation's allowlist. Ask your administrator.",
                code="ip_not_allowed",
            )
        api_token_touch(token=token)
        request._request.api_token = token
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return "Token"


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """A portal session counts only once TOTP has been verified where it is needed."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        needs_otp = user.totp_required() or user_has_device(user, confirmed=True)
        if needs_otp and not user.is_verified():
            return None
        return result


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema (and Swagger UI) describes token authentication."""

    target_class = "apps.accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`); keys are created in the admin or by "
            "`manage.py create_api_token`.",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.VerifiedSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
