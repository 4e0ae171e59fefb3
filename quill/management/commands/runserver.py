"""`runserver`, refusing to listen beyond this computer while the secret key is public.

Django's and staticfiles' `runserver` otherwise; the refusal cannot be skipped with
`--skip-checks`, unlike the system check `quill.E001`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.management.base import CommandError

from quill import secret_key


class Command(StaticfilesRunserver):
    addr: str  # the address to listen on, parsed by runserver's handle()

    def run(self, **options) -> None:
        # `handle` has parsed the address (self.addr) and calls this before anything listens.
        if secret_key.is_public(settings.SECRET_KEY) and not secret_key.is_loopback(self.addr, resolve=True):
            raise CommandError(secret_key.refusal(where=f"on {self.addr}, which other computers can reach"))
        super().run(**options)
