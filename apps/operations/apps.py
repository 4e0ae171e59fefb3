from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operator work: export and restore, storage verification, orphans, retention runs. No models."""

    name = "apps.operations"
    label = "operations"
