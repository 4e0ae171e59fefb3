from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"

    def ready(self) -> None:
        from apps.documents.views.patient import patient_documents_context
        from apps.patients.regions import register_patient_region

        register_patient_region("documents_region", patient_documents_context)
