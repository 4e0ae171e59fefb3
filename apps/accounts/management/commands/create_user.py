"""`manage.py create_user --email --name --organisation --roles clinician,billing [--password]`."""

from __future__ import annotations

import getpass
import secrets
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from apps.accounts.models import Organisation, User
from apps.accounts.roles import Role
from apps.accounts.services import organisation_create, user_create
from quill.commands import QuillCommand


def generate_password() -> str:
    """A strong random password that passes every validator (about 190 bits)."""
    return secrets.token_urlsafe(24)


class Command(QuillCommand):
    help = (
        "Create a user in an organisation. Without --password, asks for one on a terminal, or generates and prints one."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True, help="Full name.")
        parser.add_argument("--organisation", required=True, help="Organisation name (or id).")
        parser.add_argument("--roles", required=True, help=f"Comma-separated, any of: {', '.join(Role.values)}.")
        parser.add_argument("--password", help="Avoid on shared machines: it stays in shell history. Omit to be asked.")
        parser.add_argument("--generate-password", action="store_true", help="Generate a password and print it.")
        parser.add_argument(
            "--create-organisation", action="store_true", help="Create the organisation if it does not exist."
        )

    def run(self, **options) -> None:
        email = options["email"].strip().lower()
        roles = self._roles(options["roles"])
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"A user with the email address {email} already exists.")
        organisation = self._organisation(options["organisation"], create=options["create_organisation"])
        password, generated = self._password(options)
        try:
            user = user_create(
                email=email, full_name=options["name"], password=password, organisation=organisation, roles=roles
            )
        except ValidationError as exc:
            raise CommandError("The user was not created: " + " ".join(exc.messages)) from exc
        self.stdout.write(f"Created {user.email} in {organisation.name} with roles {', '.join(roles)}.")
        if generated:
            self.stdout.write(f"Password (shown only now): {password}")
        if user.totp_required():
            self.stdout.write("They must set up two-step sign-in (TOTP) the first time they sign in.")

    def _roles(self, text: str) -> list[str]:
        roles = [role.strip().lower() for role in text.split(",") if role.strip()]
        unknown = sorted(set(roles) - set(Role.values))
        if not roles or unknown:
            raise CommandError(
                f"Unknown or missing roles: {', '.join(unknown) or '(none)'}. Choose from: {', '.join(Role.values)}."
            )
        return list(dict.fromkeys(roles))

    def _organisation(self, name_or_id: str, *, create: bool) -> Organisation:
        matches = Organisation.objects.filter(name__iexact=name_or_id.strip())
        organisation = matches.order_by("created_at").first()
        if organisation is None:
            try:
                organisation = Organisation.objects.filter(pk=name_or_id.strip()).first()
            except ValidationError:
                organisation = None
        if organisation is not None:
            return organisation
        if create:
            return organisation_create(name=name_or_id.strip())
        raise CommandError(
            f"No organisation is called {name_or_id!r}. Check the name, or add --create-organisation to create it."
        )

    def _password(self, options: dict) -> tuple[str, bool]:
        if options["password"]:
            return options["password"], False
        if options["generate_password"] or not sys.stdin.isatty():
            return generate_password(), True
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords did not match.")
        return first, False
