"""`manage.py create_api_token --email E --name N [--days D]`: make an integrator's token.

The key is printed once; only its hash is stored.
"""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from apps.accounts.models import User
from apps.accounts.services import api_token_create
from quill.commands import QuillCommand


class Command(QuillCommand):
    help = "Create an API token for a user and print its key (shown once; only a hash is stored)."

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="The user the token acts as.")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'EHR integration'.")
        parser.add_argument("--days", type=int, default=None, help="Lifetime in days (default QUILL_API_TOKEN_DAYS).")

    def run(self, **options) -> None:
        email = options["email"].strip().lower()
        user = User.objects.select_related("organisation").filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user has the email address {email!r}; create the user first.")
        if not user.is_active:
            raise CommandError(f"The user {email} is disabled; API tokens are only for active users.")
        if user.organisation is None:  # selected with the user: no query
            raise CommandError(f"The user {email} belongs to no organisation; API tokens belong to one.")
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        token, key = api_token_create(user=user, name=options["name"], days=days)
        self.stdout.write(
            f"Created API token {token.name!r} for {user.email} ({user.organisation.name}), "
            f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}."
        )
        self.stdout.write("Key (shown only now; store it securely, it cannot be recovered):")
        self.stdout.write(key)
