from django.apps import AppConfig


class FilesConfig(AppConfig):
    """The byte layer: storage, spooling, upload handling, scanning client, rendering. No models."""

    name = "apps.files"
    label = "files"

    def ready(self) -> None:
        from apps.files.probes import register_checks

        register_checks()
