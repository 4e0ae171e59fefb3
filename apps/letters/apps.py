from django.apps import AppConfig


class LettersConfig(AppConfig):
    name = "apps.letters"
    label = "letters"

    def ready(self) -> None:
        from apps.letters.push import deliver_letter_composition
        from apps.letters.services import OUTBOX_KIND
        from apps.outbox.handlers import register
        from apps.outbox.models import Target

        register(Target.OPENEHR, OUTBOX_KIND, deliver_letter_composition)

        from apps.letters.selectors import letter_titles
        from apps.patients.titles import register_object_titles

        register_object_titles("letter", letter_titles)
