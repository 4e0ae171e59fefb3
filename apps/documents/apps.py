from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"

    def ready(self) -> None:
        from apps.documents.selectors import document_titles
        from apps.documents.services.retention import patient_retention_recompute
        from apps.documents.views.patient import patient_documents_context
        from apps.patients.hooks import on_birth_date_changed
        from apps.patients.regions import register_patient_region
        from apps.patients.titles import register_object_titles

        # The children's retention rule depends on the birth date: recompute when it changes.
        on_birth_date_changed("documents.retention", patient_retention_recompute)
        # The patient page shows the documents region, which the patients app cannot import.
        register_patient_region("documents_region", patient_documents_context)
        # The access report names the documents its events are about.
        register_object_titles("document", document_titles)
