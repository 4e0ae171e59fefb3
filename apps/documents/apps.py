from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"

    def ready(self) -> None:
        from apps.documents.services.retention import patient_retention_recompute
        from apps.patients.hooks import on_birth_date_changed

        # The children's retention rule depends on the birth date: recompute when it changes.
        on_birth_date_changed("documents.retention", patient_retention_recompute)
