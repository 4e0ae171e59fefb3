from django.apps import AppConfig


class FhirConfig(AppConfig):
    """FHIR R4: Quill's own MHD endpoint (Responder and Recipient) and outbound sync."""

    name = "apps.fhir"
    label = "fhir"

    def ready(self) -> None:
        from apps.fhir.sync import register_handlers

        register_handlers()
