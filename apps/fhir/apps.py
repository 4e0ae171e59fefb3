from django.apps import AppConfig


class FhirConfig(AppConfig):
    """FHIR R4: Quill's own MHD endpoint (Responder and Recipient) and outbound sync."""

    name = "apps.fhir"
    label = "fhir"

    def ready(self) -> None:
        from apps.fhir.sync import register_handlers
        from apps.fhir.views import invalid_input_response
        from quill.input_guard import answer_under

        register_handlers()
        answer_under("/fhir/", invalid_input_response)
