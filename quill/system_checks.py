"""Django system checks for what settings alone cannot refuse (run by `check`, `migrate` and `runserver`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from quill import secret_key, secrets


@register("security")
def public_key_beyond_loopback(app_configs, **kwargs) -> list[Error]:
    """quill.E001: a public or weak secret key with host names other than this computer's."""
    if not secret_key.is_public(settings.SECRET_KEY):
        return []
    outside = [host for host in settings.ALLOWED_HOSTS if not secret_key.is_loopback(host)]
    if not outside:
        return []
    return [
        Error(
            secret_key.refusal(where=f"to the host names {', '.join(outside)} (ALLOWED_HOSTS)"),
            hint="Only 127.0.0.1, ::1 and localhost names may be served with a public key.",
            id="quill.E001",
        )
    ]


@register("security", deploy=True)
def secrets_in_environment(app_configs, **kwargs) -> list[Warning]:
    """quill.W002 (check --deploy, production): a secret given in a variable rather than a `_FILE`."""
    if not settings.PRODUCTION:
        return []
    return [
        Warning(
            f"{name} is set directly in the environment, where `docker inspect`, /proc and crash reports can show it.",
            hint=f"Mount the secret as a file and set {name}_FILE to its path instead (docs/security.md, Secrets).",
            id="quill.W002",
        )
        for name in secrets.given_in_environment()
    ]


@register()
def oauth_configuration(app_configs, **kwargs) -> list[Error]:
    """quill.E003: OAuth2 chosen for FHIR or EHRbase with settings missing or wrong (named, not shown)."""
    from quill.oauth import oauth_config

    errors = []
    for service, chosen in (
        ("fhir", settings.QUILL_FHIR_AUTH == "oauth2" and bool(settings.QUILL_FHIR_BASE_URL)),
        ("ehrbase", settings.QUILL_EHRBASE_AUTH == "oauth2" and bool(settings.QUILL_EHRBASE_URL)),
    ):
        if chosen:
            errors += [
                Error(problem, hint="docs/security.md, OAuth2 to FHIR and EHRbase", id="quill.E003")
                for problem in oauth_config(service).problems()  # type: ignore[arg-type]
            ]
    return errors
