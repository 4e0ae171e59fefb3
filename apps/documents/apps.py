from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"

    def ready(self) -> None:
        from apps.documents.fhir.sync import register_handlers

        register_handlers()

        from apps.documents.checks import register_checks

        register_checks()
