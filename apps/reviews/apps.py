from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"
    verbose_name = "Clinical review of documents"

    def ready(self) -> None:
        # The document page, the patient's list and the access report show reviews through these.
        from apps.reviews import extensions

        extensions.register()
